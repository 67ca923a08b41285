"""JavaScript codecs configured by the operator: a folder of `<name>.js` + `<name>.toml` pairs.

The `.js` file is a TTS / Device Repository style codec (`decodeUplink(input)`); the `.toml`
beside it says which devices it serves and how its output maps onto the catalogue:

    models = ["acme/air-q1"]        # TTS version_ids brand_id/model_id (optional)
    profiles = ["*air-q1*"]         # ChirpStack deviceProfileName globs (optional)
    version = "2024-03"             # recorded with what it decodes; default: hash of the script
    [fields]                        # a field map, as in decoders/models.toml
    temperature = "air_temperature"

Each becomes decoder `js:<name>`, also registrable on a device by that key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from collections.abc import Mapping
from pathlib import Path

from decoders import DECODERS, Codec, DecodeError
from decoders.javascript import js_codec
from decoders.rules import RULES, Rules
from ingest.model import IngestError


class CodecConfigError(IngestError):
    """A configured codec cannot be used; the message names the file and the problem."""


def load_js_codecs(folder: Path) -> tuple[dict[str, Codec], Rules]:
    """All codecs (native and the folder's) and the selection rules extended with the folder's."""
    if not folder.is_dir():
        raise CodecConfigError(f"codec folder {folder} does not exist")
    codecs: dict[str, Codec] = dict(DECODERS)
    models = dict(RULES.models)
    profiles: dict[str, str] = {}
    for script in sorted(folder.glob("*.js")):
        key = f"js:{script.stem}"
        config_path = script.with_suffix(".toml")
        if not config_path.exists():
            raise CodecConfigError(f"{script} has no {config_path.name} beside it")
        try:
            config = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise CodecConfigError(f"{config_path}: {exc}") from None
        fields = config.get("fields")
        if not isinstance(fields, Mapping) or not fields:
            raise CodecConfigError(f"{config_path} needs a [fields] table mapping the output")
        source = script.read_text(encoding="utf-8")
        version = str(config.get("version") or hashlib.sha256(source.encode()).hexdigest()[:12])
        try:
            codecs[key] = js_codec(key, source, fields, version)
        except DecodeError as exc:
            raise CodecConfigError(f"{script}: {exc.reason}") from None
        for model in config.get("models", []):
            models[str(model).lower()] = {"decoder": key}
        for pattern in config.get("profiles", []):
            profiles[str(pattern)] = key
    # The operator's profile patterns are tried before the shipped ones.
    rules = dataclasses.replace(RULES, models=models, profiles={**profiles, **RULES.profiles})
    return codecs, rules
