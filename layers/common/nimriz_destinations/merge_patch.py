"""JSON Merge Patch (RFC 7396): how a PATCH body changes a JSON document."""

from __future__ import annotations

from typing import Any

MEDIA_TYPE = "application/merge-patch+json"  # RFC 7396 §4


def merge_patch(target: Any, patch: Any) -> Any:
    """`target` with `patch` applied, as RFC 7396 §2's MergePatch: an object patch merges member by member (null
    removes the member, an object merges into it, anything else replaces it); any other patch replaces the target.
    Neither argument is changed."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = merge_patch(merged.get(name), value)
    return merged
