"""The staff directory lives in the business config; the database keeps a copy for joins and audits. Here: the
sync from the config, and the lookups the chat needs (who is asking, a person named in a message, names)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import BusinessConfig
from orderbot.core.models import Staff
from orderbot.core.sqlutil import run_core


async def sync_staff(session: AsyncSession, config: BusinessConfig) -> int:
    """Upsert every configured person; people no longer listed are deactivated, never deleted."""
    configured = config.staff_by_id()
    if not configured:  # an empty directory is a missing or broken config, not "everyone has left"
        return 0
    existing = {s.id: s for s in (await session.execute(select(Staff))).scalars()}
    for sid, entry in configured.items():
        row = existing.get(sid) or Staff(id=sid)
        row.name, row.roles, row.email = entry.name, list(entry.roles), entry.email
        row.wecom_userid, row.dingtalk_userid, row.active = entry.wecom_userid, entry.dingtalk_userid, True
        row.wecom_open_userid = entry.wecom_open_userid
        if sid not in existing:
            session.add(row)
    for sid, row in existing.items():
        if sid not in configured:
            row.active = False
    return len(configured)


# Who is asking, by the platform's user id: the statements are built once (building a SELECT costs more than
# running it, and the dispatcher looks the asker up for every message).
_IDENTITY = (Staff.id, Staff.name, Staff.roles)
_BY_PLATFORM_USER: dict[str | None, Select[str, str, list[str]]] = {
    platform: select(*_IDENTITY).where(column == bindparam("user_id"), Staff.active.is_(True))
    for platform, column in (("wecom", Staff.wecom_userid), ("dingtalk", Staff.dingtalk_userid), (None, Staff.id))
}
# The WeCom AI bot sends the userid, or an open_userid when a member (not an admin) created the bot.
_BY_PLATFORM_USER["wecom_aibot"] = select(*_IDENTITY).where(
    or_(Staff.wecom_userid == bindparam("user_id"), Staff.wecom_open_userid == bindparam("user_id")),
    Staff.active.is_(True),
)


@dataclass(frozen=True)
class Identity:
    """An active staff member as a message names them: id, display name, roles."""

    staff_id: str
    name: str
    roles: frozenset[str]


async def identify(session: AsyncSession, platform: str | None, user_id: str) -> Identity | None:
    """The active staff member behind a platform's user id (any other platform: the staff id itself). On the
    session's connection (`run_core`): the dispatcher asks this for every message and every scan."""
    stmt = _BY_PLATFORM_USER.get(platform, _BY_PLATFORM_USER[None])
    row = (await run_core(session, stmt, {"user_id": user_id})).first()
    if row is None:
        return None
    return Identity(row.id, row.name, frozenset(row.roles))


async def wecom_userid_for(session: AsyncSession, open_userid: str) -> str | None:
    """The WeCom userid of the staff member whose open_userid (`wo…`, what a member-created AI bot sees) this is."""
    found = await session.execute(select(Staff.wecom_userid).where(Staff.wecom_open_userid == open_userid))
    userid: str | None = found.scalar_one_or_none()
    return userid


async def find_staff(session: AsyncSession, who: str) -> Staff | None:
    """A staff member named `who` by display name or by id (active or not), the first one found."""
    found = await session.execute(select(Staff).where((Staff.name == who) | (Staff.id == who)))
    return found.scalar()


async def staff_names(session: AsyncSession) -> dict[str, str]:
    """Every staff id with its display name (former staff included: old records still name them)."""
    return {sid: name for sid, name in (await session.execute(select(Staff.id, Staff.name))).all()}


async def active_roles(session: AsyncSession) -> list[tuple[str, list[str]]]:
    """(staff id, roles) of every active staff member, by id."""
    rows = await session.execute(select(Staff.id, Staff.roles).where(Staff.active.is_(True)).order_by(Staff.id))
    return [(sid, list(roles or ())) for sid, roles in rows.all()]
