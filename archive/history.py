"""Comparisons across snapshots: change detection, read-count history, partner history."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from archive import layout

if TYPE_CHECKING:
    from archive.reader import Archive

_STRING = pd.StringDtype("pyarrow")

#: Change kinds, in the order a change report lists them.
KINDS = (
    "post_added",
    "post_removed",
    "post_edited",
    "partner_added",
    "partner_removed",
    "partner_renamed",
    "partner_relinked",
    "block_changed",
)
#: The fields ``post_edited`` names, and the version column each one compares.
EDIT_FIELDS = {
    "title": "title",
    "body": "body_text",
    "attachments": "attachments",
    "published": "published",
    "author": "author",
    "category": "category",
    "source": "source_url",
}
CHANGE_COLUMNS = (
    "kind",
    "post_id",
    "section",
    "name",
    "fields",
    "old",
    "new",
    "old_snapshot",
    "new_snapshot",
)


def short(value: Any, limit: int = 80) -> str | None:
    """A one-line excerpt of a value for a change report."""
    if value is None:
        return None
    text = re.sub(r"\s+", " ", str(value)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_site(arch: Archive, site: str | None) -> Any:
    sites = arch._sites(site)
    if site is None:
        if len(sites) != 1:
            names = list(sites)
            raise ValueError(
                f"the archive holds {len(names)} sites with snapshots ({names}): pass site="
                if names
                else f"the archive {arch.root} has no committed snapshot"
            )
        return next(iter(sites.values()))
    if site not in sites:
        raise KeyError(f"site {site!r} has no committed snapshot in {arch.root}")
    return sites[site]


def _natural(pid: Any) -> tuple[int, int, str]:
    if pid is None or pid is pd.NA:
        return (0, 0, "")
    s = str(pid)
    return (1, int(s), s) if s.isdigit() else (2, 0, s)


def _empty_changes() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.array([], dtype=_STRING) for c in CHANGE_COLUMNS})
    df["fields"] = pd.Series([], dtype=object)
    return df


def changes(arch: Archive, old: str | None, new: str | None, site: str | None) -> pd.DataFrame:
    s = _one_site(arch, site)
    ids = [e["snapshot_id"] for e in s.entries]
    if old is None and new is None:
        if len(ids) < 2:
            raise ValueError(f"site {s.name} has {len(ids)} committed snapshot(s): changes need two")
        old, new = ids[-2], ids[-1]
    elif new is None:
        new = ids[-1]
    elif old is None:
        layout.validate_snapshot_id(new)
        before = [i for i in ids if i < new]
        if not before:
            raise ValueError(f"no committed snapshot of {s.name} before {new}")
        old = before[-1]
    arch._select([old, new], s.name)  # KeyError for an id that is not committed
    if old == new:
        return _empty_changes()

    def scan(dataset: str, sid: str, cols: list[str]) -> pa.Table:
        return arch._scan(dataset, {s.name: (s, [sid])}, cols)

    out: list[dict[str, Any]] = []

    def add(kind: str, **kw: Any) -> None:
        out.append({"kind": kind, **kw})

    # -- posts ---------------------------------------------------------------------------------
    lcols = ["post_id", "title", "post_url", "is_notice"]
    listed: dict[str, dict[str, dict[str, Any]]] = {}
    for sid in (old, new):
        rows: dict[str, dict[str, Any]] = {}
        for r in scan("listing", sid, lcols).to_pylist():
            if r["post_id"] is not None:
                rows.setdefault(r["post_id"], r)
        listed[sid] = rows
    fields_cols = list(dict.fromkeys(EDIT_FIELDS.values()))
    obs: dict[str, dict[str, dict[str, Any]]] = {}
    versions: dict[str, dict[str, dict[str, Any]]] = {}
    for sid in (old, new):
        o = scan("post_obs", sid, ["post_id", "content_hash", "url", "requested_url"])
        v = arch._versions_for(s, o, fields_cols).to_pylist() if o.num_rows else []
        obs[sid], versions[sid] = {}, {}
        for ro, rv in zip(o.to_pylist(), v, strict=True):
            if ro["post_id"] not in obs[sid]:
                obs[sid][ro["post_id"]] = ro
                versions[sid][ro["post_id"]] = rv
    gone_urls = {
        r["url"] for r in scan("failures", new, ["url", "http_status"]).to_pylist() if r["http_status"] == 404
    }

    def title(pid: str, sid: str) -> str | None:
        v = versions[sid].get(pid)
        if v and v.get("title"):
            return short(v["title"])
        row = listed[sid].get(pid)
        return short(row["title"]) if row else None

    def urls(pid: str) -> set[str]:
        found = set()
        for sid in (old, new):
            if pid in listed[sid]:
                found.add(listed[sid][pid]["post_url"])
            if pid in obs[sid]:
                found.update((obs[sid][pid]["url"], obs[sid][pid]["requested_url"]))
        return found - {None}

    for pid in listed[new]:
        if pid not in listed[old]:
            add("post_added", post_id=pid, new=title(pid, new))
    removed = set()
    for pid in listed[old]:
        if pid not in listed[new] or urls(pid) & gone_urls:
            removed.add(pid)
            add("post_removed", post_id=pid, old=title(pid, old))
    for pid, ro in obs[old].items():
        rn = obs[new].get(pid)
        if rn is None or pid in removed or rn["content_hash"] == ro["content_hash"]:
            continue
        vo, vn = versions[old][pid], versions[new][pid]
        changed = [
            f
            for f, col in EDIT_FIELDS.items()
            if _comparable(col, vo.get(col)) != _comparable(col, vn.get(col))
        ]
        add("post_edited", post_id=pid, fields=changed, old=title(pid, old), new=title(pid, new))

    # -- partners ------------------------------------------------------------------------------
    pcols = ["section", "position", "name", "link", "logo_sha256"]
    partners: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for sid in (old, new):
        rows = sorted(scan("partners", sid, pcols).to_pylist(), key=lambda r: (r["section"], r["position"]))
        partners[sid] = {}
        for r in rows:
            partners[sid].setdefault((r["section"], r["name"]), r)
    added = [k for k in partners[new] if k not in partners[old]]
    gone = [k for k in partners[old] if k not in partners[new]]
    used: set[tuple[str, str]] = set()
    for k in gone:
        r = partners[old][k]
        match = next(
            (
                a
                for a in added
                if a not in used
                and a[0] == k[0]
                and (
                    (r["link"] and partners[new][a]["link"] == r["link"])
                    or (r["logo_sha256"] and partners[new][a]["logo_sha256"] == r["logo_sha256"])
                )
            ),
            None,
        )
        if match is not None:
            used.update((match, k))
            add("partner_renamed", section=k[0], name=match[1], old=k[1], new=match[1])
    for k in added:
        if k not in used:
            add("partner_added", section=k[0], name=k[1], new=short(partners[new][k]["link"]))
    for k in gone:
        if k not in used:
            add("partner_removed", section=k[0], name=k[1], old=short(partners[old][k]["link"]))
    for k, r in partners[new].items():
        o = partners[old].get(k)
        if o is not None and o["link"] != r["link"]:
            add(
                "partner_relinked",
                section=k[0],
                name=k[1],
                fields=["link"],
                old=short(o["link"]),
                new=short(r["link"]),
            )

    # -- blocks --------------------------------------------------------------------------------
    blocks: dict[str, dict[str, dict[str, Any]]] = {}
    for sid in (old, new):
        blocks[sid] = {}
        for r in scan("blocks", sid, ["block_id", "heading", "text"]).to_pylist():
            blocks[sid].setdefault(r["block_id"], r)
    for bid in sorted(blocks[old].keys() | blocks[new].keys()):
        o, n = blocks[old].get(bid) or {}, blocks[new].get(bid) or {}
        changed = [f for f in ("heading", "text") if o.get(f) != n.get(f)]
        if changed:
            col = "text" if "text" in changed else "heading"
            add("block_changed", name=bid, fields=changed, old=short(o.get(col)), new=short(n.get(col)))

    if not out:
        return _empty_changes()
    rank = {k: i for i, k in enumerate(KINDS)}
    out.sort(
        key=lambda c: (
            rank[c["kind"]],
            _natural(c.get("post_id")),
            c.get("section") or "",
            c.get("name") or "",
        )
    )
    df = pd.DataFrame(
        {c: pd.array([r.get(c) for r in out], dtype=_STRING) for c in CHANGE_COLUMNS if c != "fields"}
    )
    df.insert(4, "fields", pd.Series([r.get("fields") for r in out], dtype=object))
    df["old_snapshot"] = pd.array([old] * len(df), dtype=_STRING)
    df["new_snapshot"] = pd.array([new] * len(df), dtype=_STRING)
    return df[list(CHANGE_COLUMNS)]


def _comparable(column: str, value: Any) -> Any:
    if column == "attachments":  # what the content hash covers: names and URLs
        return [(a.get("name"), a.get("url")) for a in value or [] if a is not None]
    return value


def reads_history(arch: Archive, site: str | None) -> pd.DataFrame:
    from archive.reader import to_pandas

    sel = arch._select(None, site)
    df = to_pandas(arch._scan("listing", sel, ["post_id", "is_notice", "reads", "fetched_at"]))
    df = df[df["post_id"].notna() & ~df["is_notice"].fillna(False).astype(bool)]
    df = df.drop_duplicates(["site", "snapshot_id", "post_id"], keep="first")
    taken = pd.to_datetime(df["snapshot_id"].astype(str), format=layout.SNAPSHOT_ID_FORMAT, utc=True)
    observed = df["fetched_at"].fillna(taken.dt.as_unit("us"))
    df = df.assign(observed_at=observed)
    df = df.sort_values(["site", "post_id", "snapshot_id"], kind="stable").reset_index(drop=True)
    previous = df.groupby(["site", "post_id"], sort=False)["reads"].shift(1)
    delta = (df["reads"] - previous).astype("Int64")
    fell = (delta < 0).fillna(False).astype("boolean")
    return pd.DataFrame(
        {
            "site": df["site"],
            "post_id": df["post_id"],
            "snapshot_id": df["snapshot_id"],
            "observed_at": df["observed_at"].astype("datetime64[us, UTC]"),
            "reads": df["reads"],
            "delta": delta,
            "fell": fell,
        }
    )


def partners_history(arch: Archive, site: str | None) -> pd.DataFrame:
    from archive.reader import to_pandas

    sel = arch._select(None, site)
    latest = {name: s.entries[-1]["snapshot_id"] for name, (s, _) in sel.items()}
    df = to_pandas(arch._scan("partners", sel, ["section", "position", "name", "link", "logo_sha256"]))
    df = df.drop_duplicates(["site", "snapshot_id", "section", "name"], keep="first")
    keys = ["site", "section", "name"]
    g = df.groupby(keys, sort=True)
    last_rows = df.groupby(keys, sort=True).tail(1).set_index(keys)  # rows are in snapshot order
    out = pd.DataFrame(
        {
            "first_seen": g["snapshot_id"].min(),
            "last_seen": g["snapshot_id"].max(),
            "snapshots": g["snapshot_id"].nunique().astype("Int64"),
        }
    )
    out["link"] = last_rows["link"].reindex(out.index)
    out["logo_sha256"] = last_rows["logo_sha256"].reindex(out.index)
    out["logo_changes"] = g["logo_sha256"].nunique(dropna=True).astype("Int64")
    out = out.reset_index()
    out["present_in_latest"] = pd.array(
        [ls == latest.get(s) for s, ls in zip(out["site"], out["last_seen"], strict=True)], dtype="boolean"
    )
    cols = ["site", "section", "name", "first_seen", "last_seen", "snapshots", "present_in_latest", "link",
            "logo_sha256", "logo_changes"]  # fmt: skip
    out = out[cols]
    for c in ("site", "section", "name", "first_seen", "last_seen", "link", "logo_sha256"):
        out[c] = out[c].astype(_STRING)
    return out.reset_index(drop=True)
