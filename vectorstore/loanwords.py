"""Korean transliterations of English technical words, for keyword search across scripts.

Korean technical writing mixes scripts freely: one note says "트랜스포머", the next
"Transformer"; a question says "파라미터" about a table headed "Parameter Count". Neither
keyword matching nor the English-only bundled embedder links the two, so the analyzer
indexes a known transliteration as the English word, inside compounds too ("언어모델" is
언어 + model); the rest of the word (a particle, an ending) stays bigrams. Documents and
queries go through the same analyzer, so it works both ways, and either spelling weighs
the same in BM25.

Listed: unambiguous transliterations and a few fixed technical translations ("재현율"
recall), each at least two syllables. Left out: words whose prefix match would fire on
unrelated words ("로스" in "로스앤젤레스") or that have a common non-technical sense
("배치" batch / placement, "정렬" alignment / sorting, "파인" fine / pine).
"""

from __future__ import annotations

from functools import lru_cache

# Korean form, then the English word(s) it stands for. Longer forms win ("파인튜닝" before
# "튜닝"), so compounds written without a space map to all their words.
_TABLE = """
트랜스포머 transformer
파라미터 parameter
하이퍼파라미터 hyperparameter
매개변수 parameter
프롬프트 prompt
프롬프팅 prompting
임베딩 embedding
토큰 token
토크나이저 tokenizer
토큰화 tokenization
어텐션 attention
셀프어텐션 self attention
인코더 encoder
디코더 decoder
파인튜닝 fine tuning
튜닝 tuning
모델 model
모델링 modeling
데이터 data
데이터셋 dataset
데이터베이스 database
벡터 vector
벡터스토어 vector store
알고리즘 algorithm
아키텍처 architecture
아키텍쳐 architecture
레이어 layer
뉴런 neuron
뉴럴 neural
네트워크 network
딥러닝 deep learning
머신러닝 machine learning
러닝 learning
에이전트 agent
체인 chain
파이프라인 pipeline
벤치마크 benchmark
스코어 score
점수 score
조화평균 harmonic mean
평균 average mean
메트릭 metric
컨텍스트 context
콘텍스트 context
윈도우 window
시퀀스 sequence
에포크 epoch
에폭 epoch
그래디언트 gradient
옵티마이저 optimizer
드롭아웃 dropout
소프트맥스 softmax
로짓 logit
오버피팅 overfitting
언더피팅 underfitting
리트리버 retriever
리트리벌 retrieval
검색증강 retrieval augmented
리랭커 reranker
리랭킹 reranking
청크 chunk
청킹 chunking
인덱스 index
인덱싱 indexing
쿼리 query
코사인 cosine
유사도 similarity
클러스터 cluster
클러스터링 clustering
분류기 classifier
레이블 label
라벨 label
어노테이션 annotation
피드백 feedback
리워드 reward
폴리시 policy
얼라인먼트 alignment
할루시네이션 hallucination
환각 hallucination
인퍼런스 inference
디코딩 decoding
인코딩 encoding
레코드 record
샘플링 sampling
템퍼러처 temperature
온도 temperature
빔서치 beam search
그리디 greedy
퓨샷 few shot
제로샷 zero shot
원샷 one shot
체인오브소트 chain of thought
어댑터 adapter
로라 lora
양자화 quantization
퀀타이제이션 quantization
증류 distillation
프루닝 pruning
가지치기 pruning
사전학습 pretraining
프리트레이닝 pretraining
파운데이션 foundation
멀티모달 multimodal
멀티태스크 multitask
오픈소스 open source
라이선스 license
라이센스 license
서버 server
클라이언트 client
브라우저 browser
인터페이스 interface
플랫폼 platform
프레임워크 framework
라이브러리 library
패키지 package
모듈 module
함수 function
클래스 class
인스턴스 instance
오브젝트 object
컴퓨터 computer
소프트웨어 software
하드웨어 hardware
메모리 memory
캐시 cache
스토리지 storage
클라우드 cloud
컨테이너 container
도커 docker
쿠버네티스 kubernetes
리눅스 linux
윈도우즈 windows
파이썬 python
자바스크립트 javascript
자바 java
스크립트 script
코드 code
코딩 coding
프로그래밍 programming
프로그램 program
애플리케이션 application
어플리케이션 application
서비스 service
시스템 system
프로세스 process
스레드 thread
그래프 graph
테이블 table
스키마 schema
포맷 format
파일 file
문서 document
다큐먼트 document
텍스트 text
이미지 image
비디오 video
오디오 audio
스피치 speech
번역 translation
요약 summary
챗봇 chatbot
챗지피티 chatgpt
지피티 gpt
버트 bert
라마 llama
제미나이 gemini
클로드 claude
오픈에이아이 openai
구글 google
마이크로소프트 microsoft
엔비디아 nvidia
지피유 gpu
씨피유 cpu
에이피아이 api
엘엘엠 llm
랭체인 langchain
허깅페이스 hugging face
깃허브 github
리포지토리 repository
레포지토리 repository
버전 version
업데이트 update
릴리스 release
릴리즈 release
출시 release
공개 release
테스트 test
디버깅 debugging
모니터링 monitoring
보안 security
시큐리티 security
프라이버시 privacy
정확도 accuracy
정밀도 precision
재현율 recall
리콜 recall
프리시전 precision
퍼플렉서티 perplexity
엔트로피 entropy
확률 probability
통계 statistics
매트릭스 matrix
행렬 matrix
차원 dimension
스케일링 scaling
스케일 scale
"""


@lru_cache(maxsize=1)
def table() -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for line in _TABLE.strip().splitlines():
        korean, *english = line.split()
        out[korean] = tuple(english)
    return out


@lru_cache(maxsize=1)
def _lengths() -> tuple[int, ...]:
    return tuple(sorted({len(k) for k in table()}, reverse=True))


def split(run: str) -> list[str | tuple[str, ...]]:
    """A Hangul run as plain Korean pieces (str) and the English words of the known
    transliterations in it (tuples): "언어모델의" -> ["언어", ("model",), "의"].

    A transliteration counts at the start of the run, right after another one, or after
    at least two plain syllables: compounds ("언어모델") split, while the one-syllable
    prefixes of unrelated words do not ("드라마" is not 드 + "라마", "콘테스트" not "테스트").
    """
    entries, lengths = table(), _lengths()
    out: list[str | tuple[str, ...]] = []
    plain = i = 0
    while i < len(run):
        found = 0
        if i == plain or i - plain >= 2:
            found = next((n for n in lengths if run[i : i + n] in entries), 0)
        if not found:
            i += 1
            continue
        if i > plain:
            out.append(run[plain:i])
        out.append(entries[run[i : i + found]])
        i = plain = i + found
    if plain < len(run):
        out.append(run[plain:])
    return out
