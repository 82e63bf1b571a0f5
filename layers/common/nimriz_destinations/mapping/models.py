"""The `property_mapping` schema: a base and a list of overrides, validated at save time."""

import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from pydantic_core import PydanticCustomError

from ..event_fields import require_field
from .payload import OutputPath, json_size
from .templates import MAX_TEMPLATE_LENGTH, parse_template

MAX_OVERRIDES = 100
MAX_STATIC_JSON_LENGTH = 4096
MAX_STATIC_DEPTH = 8
# What one action's overrides write whatever the event holds: a quarter of the 64 KB a mapped event may have
# (`delivery.prepare.MAX_MAPPED_EVENT_BYTES`), so no mapping is refused at every send for its fixed part alone.
MAX_FIXED_OUTPUT_BYTES = 16 * 1024


def _canonical_path(path: str) -> str:
    require_field(path)
    return path


CanonicalPath = Annotated[str, AfterValidator(_canonical_path)]


class Override(BaseModel):
    """What the five override models share: closed objects, `from` accepted as `from_` too."""

    # Built at first use, not at import (as PropertyMapping): most functions that import them never validate one.
    model_config = ConfigDict(
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        defer_build=True,
    )

    def fixed_output_bytes(self) -> int:
        """Bytes of the payload this override writes whatever the event holds (output paths are ASCII)."""
        return 0


class RenameOverride(Override):
    """Move a payload value to another path."""

    type: Literal["rename"]
    from_: OutputPath = Field(alias="from")
    to: OutputPath

    def fixed_output_bytes(self) -> int:
        return len(self.to)


class ExcludeOverride(Override):
    """Remove a payload value."""

    type: Literal["exclude"]
    field: OutputPath


class IncludeOverride(Override):
    """Copy a canonical event field into the payload."""

    type: Literal["include"]
    field: CanonicalPath
    to: OutputPath | None = Field(default=None, description="Defaults to the field's own dotted path.")

    def fixed_output_bytes(self) -> int:
        return len(self.to or self.field)


def _exceeds_depth(value: Any, levels_left: int) -> bool:
    if not isinstance(value, dict | list):
        return False
    if levels_left == 0:
        return True
    children = value.values() if isinstance(value, dict) else value
    return any(_exceeds_depth(child, levels_left - 1) for child in children)


class StaticOverride(Override):
    """Set a fixed JSON value."""

    type: Literal["static"]
    to: OutputPath
    value: JsonValue

    @field_validator("value")
    @classmethod
    def _bounded(cls, value: JsonValue) -> JsonValue:
        if _exceeds_depth(value, MAX_STATIC_DEPTH):
            raise ValueError(f"value nests deeper than {MAX_STATIC_DEPTH} levels")
        if len(json.dumps(value, ensure_ascii=False)) > MAX_STATIC_JSON_LENGTH:
            raise ValueError(f"value is larger than {MAX_STATIC_JSON_LENGTH} characters of JSON")
        return value

    def fixed_output_bytes(self) -> int:
        return len(self.to) + json_size(self.value)


class TemplateOverride(Override):
    """Render `{{path}}` placeholders against the canonical event."""

    type: Literal["template"]
    to: OutputPath
    template: str = Field(max_length=MAX_TEMPLATE_LENGTH)

    @field_validator("template")
    @classmethod
    def _valid_template(cls, template: str) -> str:
        parse_template(template)
        return template

    def fixed_output_bytes(self) -> int:
        literal_text = (part for part in parse_template(self.template) if isinstance(part, str))
        return len(self.to) + sum(len(text.encode("utf-8")) for text in literal_text)


_OVERRIDE_MODELS: dict[str, type[Override]] = {
    "rename": RenameOverride,
    "exclude": ExcludeOverride,
    "include": IncludeOverride,
    "static": StaticOverride,
    "template": TemplateOverride,
}


def _validate_override(value: Any, _handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    # Dispatching on `type` here (rather than a tagged union) keeps union tags out of error locations:
    # a bad path reports `overrides.0.to`, not `overrides.0.rename.to`.
    if isinstance(value, Override):
        return value
    if not isinstance(value, dict):
        raise PydanticCustomError("override", "an override must be an object with a `type`")
    kind = value.get("type")
    if kind is None:
        raise ValidationError.from_exception_data("Override", [{"type": "missing", "loc": ("type",), "input": value}])
    model = _OVERRIDE_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        error = PydanticCustomError(
            "override_type", f"unknown override type {kind!r}; expected one of: {', '.join(_OVERRIDE_MODELS)}"
        )
        raise ValidationError.from_exception_data("Override", [{"type": error, "loc": ("type",), "input": kind}])
    return model.model_validate(value, context=info.context)


AnyOverride = Annotated[
    RenameOverride | ExcludeOverride | IncludeOverride | StaticOverride | TemplateOverride,
    WrapValidator(_validate_override),
]


class PropertyMapping(BaseModel):
    """An action's `property_mapping`; `{}` is the provider's default mapping unchanged."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    base: Literal["default", "none"] = "default"
    overrides: list[AnyOverride] = Field(default_factory=list, max_length=MAX_OVERRIDES)

    def fixed_output_problem(self) -> str | None:
        """Why the overrides write too much whatever the event holds, or None. Checked when a mapping is saved,
        not when a stored one is read: a bound added later must not stop delivering what was accepted before."""
        total = sum(override.fixed_output_bytes() for override in self.overrides)
        if total <= MAX_FIXED_OUTPUT_BYTES:
            return None
        return (
            f"the overrides write {total} bytes whatever the event holds (output paths, static values as compact "
            f"JSON, template text outside placeholders); at most {MAX_FIXED_OUTPUT_BYTES} bytes per action"
        )
