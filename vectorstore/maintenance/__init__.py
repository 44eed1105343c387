"""Store maintenance: check and repair, export and import."""
