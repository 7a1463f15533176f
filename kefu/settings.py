"""Settings read from the environment (prefix ``KEFU_``) into one frozen object.

The object is built when a command or the app starts (``Settings.from_env()``), never
at import, so tests can build their own from a plain dict.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from kefu.brand import Brand, demo_brand, load_brand
from kefu.errors import ConfigError
from kefu.vocab import ANSWER_STYLES, DEFAULT_ANSWER_STYLE, MAX_QUESTION_CHARS, AnswerStyle

EmbedRuntime = Literal["torch", "onnx", "onnx-int8", "openvino"]
EMBED_RUNTIMES: tuple[EmbedRuntime, ...] = ("torch", "onnx", "onnx-int8", "openvino")
LlmBackend = Literal["ollama", "openai", "llamacpp"]
LLM_BACKENDS: tuple[LlmBackend, ...] = ("ollama", "openai", "llamacpp")

#: Folder (under ``<data dir>/models``) of the embedder that ``kefu setup-models`` builds.
DEFAULT_EMBEDDER_DIRNAME = "multilingual-e5-small"
#: File name (under ``<data dir>/models``) of the GGUF that ``kefu setup-models`` assembles.
DEFAULT_GGUF_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"

#: The domains links may name unless KEFU_OFFICIAL_DOMAINS or a brand file says otherwise:
#: the demo brand's (kefu/brands/harbor.toml).
DEFAULT_OFFICIAL_DOMAINS: tuple[str, ...] = demo_brand().official_domains

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """Everything configurable about kefu. Build it with :meth:`from_env`."""

    data_dir: Path = Path("var")
    #: A sentence-transformers model name or folder; ``None`` means the offline default.
    embedding_model: str | None = None
    embedding_batch_size: int = 16
    #: What runs the embedder: "onnx" (ONNX Runtime on the fp32 export: torch's vectors, about
    #: twice as fast per question), "openvino" (OpenVINO on that file, bf16 on CPUs with AMX:
    #: faster ingest and busy search, one hit moved on two eval sets), "onnx-int8" (its int8
    #: quantisation: faster, but it moved a few retrieval hits) or "torch" (sentence-transformers).
    #: `kefu setup-models` makes the files; a missing file falls back with a log line. docs/benchmarks.md.
    embed_runtime: EmbedRuntime = "onnx"
    #: Threads one ONNX Runtime model call uses (openvino: calls at once, one core each); ``None``: one per CPU.
    embed_threads: int | None = None
    #: The API's query batching: texts in one model call at most (1: no batching, the default:
    #: with the ONNX runtime it was no faster at 8 clients and slower at 32; docs/benchmarks.md),
    #: and milliseconds a search waits for others to join it (0 ms: only those already waiting).
    query_batch_max: int = 1
    query_batch_wait_ms: float = 2.0
    #: The API: vectors of the last this many distinct search questions, kept so a question
    #: asked again is not embedded again (0: none kept). About 1.5 KB each.
    query_cache: int = 4096
    llm_backend: LlmBackend = "llamacpp"
    #: Ollama servers serving ``ollama_model``; more than one makes a pool (failover, a queue each).
    ollama_hosts: tuple[str, ...] = ("http://127.0.0.1:11434",)
    ollama_model: str = "qwen2.5:3b-instruct"
    #: Base URLs (with ``/v1``) of OpenAI-compatible servers (vLLM, llama.cpp's server, LM
    #: Studio, TGI) serving ``openai_model``; more than one makes a pool.
    openai_base_urls: tuple[str, ...] = ()
    openai_model: str = ""
    #: Sent as ``Authorization: Bearer``; local servers usually need none. Kept out of ``repr``.
    openai_api_key: str | None = field(default=None, repr=False)
    #: Generations each LLM server runs at once (Ollama's OLLAMA_NUM_PARALLEL, vLLM's batch).
    llm_parallel: int = 1
    #: Seconds between health checks of each LLM server of a pool.
    llm_health_interval: float = 10.0
    #: Path of the GGUF for the embedded backend; ``None`` means the one setup assembles.
    gguf_path: Path | None = None
    llm_threads: int = max(1, os.cpu_count() or 1)
    llm_context: int = 4096
    llm_max_tokens: int = 384
    llm_temperature: float = 0.2
    #: Seconds allowed for a whole generation (first token to last).
    llm_timeout: float = 60.0
    #: Seconds allowed to connect to an LLM server.
    llm_connect_timeout: float = 5.0
    #: The corpus ``kefu ingest`` reads when given no source; ``None`` means the bundled one.
    corpus_dir: Path | None = None
    #: The index commands use when given no ``--index``.
    index_name: str = "harbor"
    #: The query-expansion glossary; ``None`` means the one shipped with kefu.
    glossary_path: Path | None = None
    #: Seconds an answer may take before kefu falls back (extractive answer or handoff).
    answer_deadline: float = 25.0
    #: How answers are written: "quote" (the help center's own sentences when they are in
    #: the user's language, the LLM only to translate) or "generate" (the LLM always writes).
    answer_style: AnswerStyle = DEFAULT_ANSWER_STYLE
    #: Seconds between looks at the index's ``current`` version on disk: a version another
    #: process published (a reindex on another replica, ``kefu ingest``) is swapped in. 0: never.
    index_watch_seconds: float = 2.0
    #: Confidence calibration file; ``None`` means ``<data dir>/calibration.json`` if present.
    calibration_path: Path | None = None
    #: SQLAlchemy URL of the database; ``None`` means SQLite at ``<data dir>/kefu.db``.
    #: Kept out of ``repr`` (and masked by :meth:`describe`): it may hold a password.
    database_url: str | None = field(default=None, repr=False)
    #: Called for each new handoff (with retries); ``None``: no webhook. May hold a token.
    webhook_url: str | None = field(default=None, repr=False)
    #: Requests that may wait for an LLM server (each server of a pool has a queue this long);
    #: more get 503.
    llm_queue: int = 4
    #: Browser origins allowed to call the HTTP API (CORS); empty: none.
    cors_origins: tuple[str, ...] = ()
    #: Largest request body the HTTP API reads, in bytes (larger: 413).
    max_body_bytes: int = 65_536
    #: Longest question the HTTP API accepts, in characters (capped at 2000).
    max_question_chars: int = MAX_QUESTION_CHARS
    #: The server drafts FAQ entries (``kefu learn`` over this many hours) every this many
    #: hours; 0: never (the default: drafting is an admin's choice).
    learn_every_hours: float = 0.0
    #: Requests per minute each API key may make (a token bucket); 0: no limit.
    rate_limit: int = 120
    #: Requests a key may make at once before the per-minute rate applies.
    rate_burst: int = 30
    #: Level of the service's JSON logs (DEBUG, INFO, WARNING, ERROR).
    log_level: str = "INFO"
    #: The deployment's brand file (names, official domains, handoff texts); ``None``: the
    #: demo brand's. The rules and the answer check read the one KEFU_BRAND_FILE names.
    brand_file: Path | None = None
    #: The only domains (and their subdomains) a link in an answer or suggestion may name;
    #: a sentence linking elsewhere is cut, and left out and reported at ingest. Default:
    #: the brand file's.
    official_domains: tuple[str, ...] = DEFAULT_OFFICIAL_DOMAINS

    @property
    def brand(self) -> Brand:
        """The brand this deployment speaks for (:mod:`kefu.brand`)."""
        return load_brand(self.brand_file) if self.brand_file else demo_brand()

    @property
    def database_url_resolved(self) -> str:
        """The database URL in effect: the configured one, or SQLite in the data dir."""
        return self.database_url or f"sqlite:///{self.data_dir / 'kefu.db'}"

    @property
    def ollama_host(self) -> str:
        """The first (or only) Ollama server."""
        return self.ollama_hosts[0]

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def default_embedder_dir(self) -> Path:
        return self.models_dir / DEFAULT_EMBEDDER_DIRNAME

    @property
    def embedding_model_id(self) -> str:
        """The model name or folder the embedder loads."""
        return self.embedding_model or str(self.default_embedder_dir)

    @property
    def default_corpus(self) -> Path:
        """The bundled demo corpus (the repo's ``corpora/harbor``), unless configured."""
        if self.corpus_dir:
            return self.corpus_dir
        beside_package = Path(__file__).resolve().parent.parent / "corpora" / "harbor"
        return beside_package if beside_package.is_dir() else Path("corpora") / "harbor"

    @property
    def default_gguf_path(self) -> Path:
        return self.models_dir / DEFAULT_GGUF_FILENAME

    @property
    def gguf_model_path(self) -> Path:
        """The GGUF the embedded backend loads."""
        return self.gguf_path or self.default_gguf_path

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed (for command-line options and tests)."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``KEFU_*`` variables (and ``OLLAMA_HOST``); bad values raise ConfigError."""
        env = os.environ if environ is None else environ

        def get(name: str, parse: Callable[[str], T], default: T) -> T:
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                return default
            try:
                return parse(raw.strip())
            except ValueError as exc:
                raise ConfigError(f"{name}={raw!r} is not valid: {exc}") from exc

        defaults = cls()
        ollama_host_env = env.get("KEFU_OLLAMA_HOST") or env.get("OLLAMA_HOST")
        openai_env = env.get("KEFU_OPENAI_BASE_URL", "").strip()
        backend_default: LlmBackend = "ollama" if ollama_host_env else "openai" if openai_env else "llamacpp"
        brand_file = get("KEFU_BRAND_FILE", _path, None)
        brand = load_brand(brand_file) if brand_file else None
        settings = cls(
            data_dir=get("KEFU_DATA_DIR", _path, defaults.data_dir),
            embedding_model=get("KEFU_EMBEDDING_MODEL", str, None),
            embedding_batch_size=get("KEFU_EMBEDDING_BATCH_SIZE", positive_int, defaults.embedding_batch_size),
            embed_runtime=get("KEFU_EMBED_RUNTIME", _embed_runtime, defaults.embed_runtime),
            embed_threads=get("KEFU_EMBED_THREADS", positive_int, None),
            query_batch_max=get("KEFU_QUERY_BATCH_MAX", positive_int, defaults.query_batch_max),
            query_batch_wait_ms=get("KEFU_QUERY_BATCH_WAIT_MS", _batch_wait_ms, defaults.query_batch_wait_ms),
            query_cache=get("KEFU_QUERY_CACHE", _non_negative_int, defaults.query_cache),
            llm_backend=get("KEFU_LLM_BACKEND", _backend, backend_default),
            ollama_hosts=_hosts("KEFU_OLLAMA_HOST", ollama_host_env) if ollama_host_env else defaults.ollama_hosts,
            ollama_model=get("KEFU_OLLAMA_MODEL", str, defaults.ollama_model),
            openai_base_urls=get("KEFU_OPENAI_BASE_URL", _base_urls, defaults.openai_base_urls),
            openai_model=get("KEFU_OPENAI_MODEL", str, defaults.openai_model),
            openai_api_key=get("KEFU_OPENAI_API_KEY", str, None),
            llm_parallel=get("KEFU_LLM_PARALLEL", positive_int, defaults.llm_parallel),
            llm_health_interval=get("KEFU_LLM_HEALTH_INTERVAL", _positive_float, defaults.llm_health_interval),
            gguf_path=get("KEFU_GGUF_PATH", _path, None),
            llm_threads=get("KEFU_LLM_THREADS", positive_int, defaults.llm_threads),
            llm_context=get("KEFU_LLM_CONTEXT", positive_int, defaults.llm_context),
            llm_max_tokens=get("KEFU_LLM_MAX_TOKENS", positive_int, defaults.llm_max_tokens),
            llm_temperature=get("KEFU_LLM_TEMPERATURE", _non_negative_float, defaults.llm_temperature),
            llm_timeout=get("KEFU_LLM_TIMEOUT", _positive_float, defaults.llm_timeout),
            llm_connect_timeout=get("KEFU_LLM_CONNECT_TIMEOUT", _positive_float, defaults.llm_connect_timeout),
            corpus_dir=get("KEFU_CORPUS_DIR", _path, None),
            index_name=get("KEFU_INDEX", _index_name, defaults.index_name),
            glossary_path=get("KEFU_GLOSSARY", _path, None),
            answer_deadline=get("KEFU_ANSWER_DEADLINE", _positive_float, defaults.answer_deadline),
            answer_style=get("KEFU_ANSWER_STYLE", _answer_style, defaults.answer_style),
            index_watch_seconds=get("KEFU_INDEX_WATCH_SECONDS", _non_negative_float, defaults.index_watch_seconds),
            calibration_path=get("KEFU_CALIBRATION", _path, None),
            database_url=get("KEFU_DATABASE_URL", _database_url, None),
            webhook_url=get("KEFU_WEBHOOK_URL", _http_url, None),
            llm_queue=get("KEFU_LLM_QUEUE", _non_negative_int, defaults.llm_queue),
            cors_origins=get("KEFU_CORS_ORIGINS", _origins, defaults.cors_origins),
            max_body_bytes=get("KEFU_MAX_BODY_BYTES", positive_int, defaults.max_body_bytes),
            max_question_chars=get("KEFU_MAX_QUESTION_CHARS", positive_int, defaults.max_question_chars),
            learn_every_hours=get("KEFU_LEARN_EVERY_HOURS", _non_negative_float, defaults.learn_every_hours),
            rate_limit=get("KEFU_RATE_LIMIT", _non_negative_int, defaults.rate_limit),
            rate_burst=get("KEFU_RATE_BURST", positive_int, defaults.rate_burst),
            log_level=get("KEFU_LOG_LEVEL", _log_level, defaults.log_level),
            brand_file=brand_file,
            # a bad brand file fails here, at start, naming its file and field
            official_domains=get("KEFU_OFFICIAL_DOMAINS", _domains, (brand or demo_brand()).official_domains),
        )
        return settings.checked()

    def checked(self) -> Settings:
        """These settings, or a ConfigError for a combination that cannot work."""
        if self.llm_backend == "openai" and not (self.openai_base_urls and self.openai_model):
            raise ConfigError(
                "KEFU_LLM_BACKEND=openai needs KEFU_OPENAI_BASE_URL (e.g. http://127.0.0.1:8000/v1) "
                "and KEFU_OPENAI_MODEL (a model the server lists at /v1/models)"
            )
        return self

    def describe(self) -> dict[str, str]:
        """Field name -> value as text, for ``kefu`` commands that show the configuration."""
        out = {f.name: str(getattr(self, f.name)) for f in fields(self)}
        out["embedding_model"] = self.embedding_model_id
        out["gguf_path"] = str(self.gguf_model_path)
        out["corpus_dir"] = str(self.default_corpus)
        out["database_url"] = _mask_url(self.database_url_resolved)
        out["openai_api_key"] = "***" if self.openai_api_key else "None"
        out["webhook_url"] = _mask_url(self.webhook_url, hide_path=True) if self.webhook_url else "None"
        return out


Number = TypeVar("Number", int, float)


def _bounded(parse: Callable[[str], Number], what: str, *, zero: bool) -> Callable[[str], Number]:
    """A parser of ``what`` (an int or a float) above 0, or of 0 or more with ``zero``."""

    def parse_bounded(raw: str) -> Number:
        value = parse(raw)
        # Written as "not": a float NaN fails every comparison and must be refused.
        if not (value >= 0 if zero else value > 0):
            raise ValueError(f"must be {what} {'of 0 or more' if zero else 'above 0'}")
        return value

    return parse_bounded


positive_int = _bounded(int, "a whole number", zero=False)
_non_negative_int = _bounded(int, "a whole number", zero=True)
_positive_float = _bounded(float, "a number", zero=False)
_non_negative_float = _bounded(float, "a number", zero=True)


def _path(raw: str) -> Path:
    # "~/kefu" names a folder in the home directory, as it would in a shell.
    return Path(raw).expanduser()


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin != "*" and _http_url(origin) and "/" in origin.partition("://")[2]:
            raise ValueError(f"{origin!r}: an origin is scheme://host[:port], without a path")
    return origins


_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}")


def _domains(raw: str) -> tuple[str, ...]:
    domains = tuple(d.strip().lower().removeprefix("www.") for d in raw.split(",") if d.strip())
    for domain in domains:
        if not _DOMAIN.fullmatch(domain):
            raise ValueError(f"{domain!r} is not a domain name (comma-separated, e.g. example.com,help.example.com)")
    return domains


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
    return level


def _batch_wait_ms(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 100:
        raise ValueError("must be between 0 and 100 (milliseconds)")
    return value


def _index_name(raw: str) -> str:
    if not all(c.isalnum() or c in "-_." for c in raw) or raw.startswith("."):
        raise ValueError("use letters, digits, '-', '_' or '.'")
    return raw


def _database_url(raw: str) -> str:
    scheme, sep, _ = raw.partition("://")
    if not sep or not scheme or not all(c.isalnum() or c in "+_" for c in scheme):
        raise ValueError("use a SQLAlchemy URL such as sqlite:///var/kefu.db or postgresql+psycopg://...")
    return raw


def _http_url(raw: str) -> str:
    scheme, sep, rest = raw.partition("://")
    if scheme.lower() not in ("http", "https") or not sep or not rest.split("/", 1)[0]:
        raise ValueError("use an http:// or https:// URL")
    return raw


def _mask_url(url: str, *, hide_path: bool = False) -> str:
    """``url`` without its password (and, with ``hide_path``, its path and query) for display."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if at and ":" in userinfo:
        authority = f"{userinfo.split(':', 1)[0]}:***@{host}"
    if hide_path and (path or "?" in authority):
        # Webhook URLs (Slack, Teams...) carry their token in the path.
        return f"{scheme}://{authority.split('?', 1)[0]}/***"
    return f"{scheme}://{authority}{slash}{path}"


def _one_of(options: tuple[str, ...]) -> Callable[[str], Any]:
    """A parser accepting one of ``options`` (any case)."""

    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return parse


_answer_style = _one_of(ANSWER_STYLES)
_backend = _one_of(LLM_BACKENDS)
_embed_runtime = _one_of(EMBED_RUNTIMES)


def _hosts(name: str, raw: str) -> tuple[str, ...]:
    hosts = tuple(_normalise_host(h) for h in raw.split(",") if h.strip())
    if not hosts:
        raise ConfigError(f"{name}={raw!r} is not valid: give one or more hosts, separated by commas")
    return hosts


def _base_urls(raw: str) -> tuple[str, ...]:
    urls = tuple(_http_url(u.strip()).rstrip("/") for u in raw.split(",") if u.strip())
    if not urls:
        raise ValueError("give one or more base URLs, separated by commas")
    return urls


def _normalise_host(raw: str) -> str:
    host = raw.strip().rstrip("/")
    if "://" not in host:
        # OLLAMA_HOST is often given as host:port, the way the ollama CLI accepts it.
        host = f"http://{host}"
    return host
