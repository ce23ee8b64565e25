"""Readable reports of what the archive holds: the changes between two snapshots."""

from __future__ import annotations

from typing import Any

import pandas as pd

_HEADINGS = {
    "post_added": "Posts added",
    "post_removed": "Posts removed",
    "post_edited": "Posts edited",
    "partner_added": "Partners added",
    "partner_removed": "Partners removed",
    "partner_renamed": "Partners renamed",
    "partner_relinked": "Partners relinked",
    "block_changed": "Blocks changed",
}


def format_changes(changes: pd.DataFrame) -> str:
    if changes.empty:
        return "No changes."
    first = changes.iloc[0]
    lines = [f"Changes from {first['old_snapshot']} to {first['new_snapshot']}: {len(changes)}"]
    for kind, heading in _HEADINGS.items():
        rows = changes[changes["kind"] == kind]
        if rows.empty:
            continue
        lines.append(f"\n{heading} ({len(rows)}):")
        lines += [f"  {_describe(row)}" for row in rows.to_dict("records")]
    return "\n".join(lines)


def _describe(row: dict[str, Any]) -> str:
    kind = row["kind"]
    if kind.startswith("post_"):
        text = f"post {row['post_id']}"
        title = row.get("new") if kind != "post_removed" else row.get("old")
        if _present(title):
            text += f": {title}"
        fields = row.get("fields")
        if kind == "post_edited" and fields is not None and len(fields):
            text += f"  [{', '.join(fields)}]"
        return text
    if kind.startswith("partner_"):
        text = f"{row['section']}: {row['name']}"
        if kind in ("partner_renamed", "partner_relinked"):
            text += f"  ({row.get('old')} -> {row.get('new')})"
        return text
    return f"{row.get('name') or row.get('section')}: {row.get('old')!s:.60} -> {row.get('new')!s:.60}"


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and value != value) and value is not pd.NA
