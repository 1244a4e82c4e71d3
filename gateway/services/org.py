"""Mission Control's organisation surface (``/api/v1/users``, ``/api/v1/organizations``) on the
tenant: an MC organisation is the tenant, an MC user a member row of it (``org_members``), per-board
access the shared ``team_access`` rows, invites ``org_invites`` (the token kept as its SHA-256).

Who the caller is (``Principal.coord_user``): the user id its credential carries, ``local`` for the gateway
token without one (MC's single local user), and ``key:<key id>`` for a tenant-bound API key (whose
claimed user ids never count: ``Principal.member_id``). The caller's row is made on first use, at
least at the role its credential gives: a ClawGate admin (the gateway token, an admin key,
development mode) is an owner with every board; anyone else a member with the boards it is given.
A role only ever rises that way (reference 1.1), and an invite only raises it too.

A Clerk user (``clawgate.services.clerk``) may be a user of several tenants: it lists them all,
switches its active one (stored: ``clerk_active_tenants``) among them, and an invite of another
tenant it accepts makes it a user of that tenant too.

Rules (reference 1.1): org admin = owner or admin; listing members is any member's, every change
and the invites an admin's (403 otherwise); only an owner makes, changes or removes an owner; the
last owner stays; nobody removes themselves. An invite is accepted once (decided in PostgreSQL),
inside the tenant the caller acts in (another tenant's token is not found), and copies its role
(raising only), its all-boards flags and its per-board access onto the member.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime
from typing import Annotated, Final, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.crypto import hash_api_key, new_invite_token
from clawgate.errors import AlreadyExists, Forbidden, InvalidRequest, NotFound, invalid_field
from clawgate.principal import Principal
from clawgate.services.tenants import TenantCreate, TenantService
from clawgate.store import Database, DbConnection, coord_events, tenants
from clawgate.store import clerk as clerk_store
from clawgate.store import mc_org as store
from clawgate.store.coord_events import NewEvent
from clawgate.store.mc_org import InviteRow, MemberRow, Profile

__all__ = [
    "AccessUpdate",
    "BoardAccessRead",
    "BoardAccessSpec",
    "InviteAccept",
    "InviteCreate",
    "InviteRead",
    "MemberRead",
    "MemberUpdate",
    "OrgService",
    "OrganizationActive",
    "OrganizationCreate",
    "OrganizationListItem",
    "OrganizationRead",
    "UserRead",
    "UserUpdate",
    "user_uuid",
]

RANK: Final = {"member": 0, "admin": 1, "owner": 2}
_TENANT_ROLE: Final = {"owner": "owner", "admin": "operator", "member": "operator"}
"""The tenant role (``tenant_users``) an accepted invite gives a Clerk user. An MC owner is a tenant
owner; an MC admin and member are operators (they write the boards they are given), the admin's
rights being its member row's role: a tenant ``admin`` would see every board and be an MC owner by
its credential's floor (``_floor``), more than an admin (who may not invite owners) could grant."""
McRole = Literal["owner", "admin", "member"]
Text = Annotated[str, Meta(max_length=2_000)]
Long = Annotated[str, Meta(max_length=20_000)]
_USERS: Final = UUID("6f1f3c1e-6c4b-5a8e-9d2a-2f1c0b7a4e11")
"""The namespace of MC's user uuids: ``uuid5(_USERS, user id)``, the same in every tenant."""


def user_uuid(user_id: str) -> UUID:
    """MC's user id (a uuid) of a ClawGate user id."""
    return uuid.uuid5(_USERS, user_id)


class UserRead(Profile, kw_only=True):
    """MC's ``UserRead``; ``clerk_user_id`` is the ClawGate user id (``local``, ``key:<id>``, ...)."""

    id: UUID
    clerk_user_id: str
    is_super_admin: bool


class UserUpdate(Struct, kw_only=True, forbid_unknown_fields=True):
    """MC's ``UserUpdate`` (absent keeps a field, null clears it); ``email`` too, which MC takes
    from Clerk and local mode cannot: it is what an invite's address is matched against."""

    email: Annotated[str, Meta(max_length=320)] | UnsetType | None = UNSET
    name: Text | UnsetType | None = UNSET
    preferred_name: Text | UnsetType | None = UNSET
    pronouns: Text | UnsetType | None = UNSET
    timezone: Annotated[str, Meta(max_length=100)] | UnsetType | None = UNSET
    notes: Long | UnsetType | None = UNSET
    context: Long | UnsetType | None = UNSET


class OrganizationRead(Struct, kw_only=True):
    id: UUID
    name: str
    created_at: datetime
    updated_at: datetime


class OrganizationCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(max_length=200)]


class OrganizationListItem(Struct, kw_only=True):
    id: UUID
    name: str
    role: str
    is_active: bool


class OrganizationActive(Struct, kw_only=True, forbid_unknown_fields=True):
    organization_id: UUID


class OrganizationUserRead(Struct, kw_only=True):
    id: UUID
    email: str | None
    name: str | None
    preferred_name: str | None


class BoardAccessRead(Struct, kw_only=True):
    id: UUID
    board_id: UUID
    can_read: bool
    can_write: bool
    created_at: datetime
    updated_at: datetime


class MemberRead(Struct, kw_only=True):
    """MC's ``OrganizationMemberRead``."""

    id: UUID
    organization_id: UUID
    user_id: UUID
    role: str
    all_boards_read: bool
    all_boards_write: bool
    created_at: datetime
    updated_at: datetime
    user: OrganizationUserRead | None
    board_access: list[BoardAccessRead]


class MemberUpdate(Struct, kw_only=True, forbid_unknown_fields=True):
    role: McRole | None = None


class BoardAccessSpec(Struct, kw_only=True, forbid_unknown_fields=True):
    board_id: UUID
    can_read: bool = True
    can_write: bool = False


class AccessUpdate(Struct, kw_only=True, forbid_unknown_fields=True):
    """MC's ``OrganizationMemberAccessUpdate``: replaces the member's flags and board rows."""

    all_boards_read: bool = False
    all_boards_write: bool = False
    board_access: Annotated[list[BoardAccessSpec], Meta(max_length=1_000)] = msgspec.field(
        default_factory=list
    )


class InviteCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    invited_email: Annotated[str, Meta(max_length=320)]
    role: McRole = "member"
    all_boards_read: bool = False
    all_boards_write: bool = False
    board_access: Annotated[list[BoardAccessSpec], Meta(max_length=1_000)] = msgspec.field(
        default_factory=list
    )


class InviteRead(Struct, kw_only=True):
    """MC's ``OrganizationInviteRead``; ``token`` only in the answer that made the invite (it is
    stored as its hash and never shown again)."""

    id: UUID
    organization_id: UUID
    invited_email: str
    role: str
    all_boards_read: bool
    all_boards_write: bool
    board_access: list[BoardAccessSpec]
    has_token: bool
    token: str | None
    created_by_user_id: UUID | None
    accepted_by_user_id: UUID | None
    accepted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class InviteAccept(Struct, kw_only=True, forbid_unknown_fields=True):
    token: Annotated[str, Meta(min_length=1, max_length=200)]


def _floor(who: Principal) -> tuple[str, bool, bool]:
    """The role and all-boards flags the credential itself gives."""
    return ("owner", True, True) if who.sees_all else ("member", False, False)


def _is_admin(member: MemberRow) -> bool:
    return RANK[member.role] >= RANK["admin"]


def _forbidden(message: str) -> Forbidden:
    return Forbidden("failed_precondition", detail=message)


def _invite_out(row: InviteRow, token: str | None = None) -> InviteRead:
    return InviteRead(
        id=row.id, organization_id=row.tenant_id, invited_email=row.invited_email, role=row.role,
        all_boards_read=row.all_teams_read, all_boards_write=row.all_teams_write,
        board_access=msgspec.convert(row.team_access, list[BoardAccessSpec]), has_token=True, token=token,
        created_by_user_id=user_uuid(row.created_by) if row.created_by else None,
        accepted_by_user_id=user_uuid(row.accepted_by) if row.accepted_by else None,
        accepted_at=row.accepted_at, created_at=row.created_at, updated_at=row.accepted_at or row.created_at,
    )  # fmt: skip


def _email(text: str) -> str:
    email = text.strip().lower()
    if "@" not in email.strip("@") or any(c.isspace() for c in email):
        raise invalid_field("$.invited_email", "an email address is required")
    return email


def _tenant_slug(name: str) -> str:
    """A tenant slug of an organisation's name: its ASCII letters and digits, ``-`` between; a name
    without any gets ``org-`` and a digest of the name (so two such names do not meet)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50].strip("-")
    return slug or f"org-{hashlib.sha256(name.lower().encode()).hexdigest()[:12]}"


class OrgService:
    """Mission Control's users, organisation, members and invites of the caller's tenant."""

    def __init__(self, db: Database, tenants_: TenantService) -> None:
        self._db = db
        self._tenants = tenants_

    # -- the caller -------------------------------------------------------------------------------

    @staticmethod
    async def _me(conn: DbConnection, who: Principal) -> MemberRow:
        """The caller's member row, made or raised to its credential's floor."""
        return await _merge(conn, who.tenant_id, who.coord_user, *_floor(who))

    async def admin(self, conn: DbConnection, who: Principal) -> MemberRow:
        """The caller's member row when it is an org admin (owner or admin). Raises: Forbidden."""
        me = await self._me(conn, who)
        if not _is_admin(me):
            raise _forbidden("Organization admin access required.")
        return me

    async def me(self, who: Principal) -> UserRead:
        async with self._db.transaction() as conn:
            row = await self._me(conn, who)
        return self._user_out(who, row)

    @staticmethod
    def _user_out(who: Principal, row: MemberRow) -> UserRead:
        profile = msgspec.structs.asdict(_profile(row))
        return UserRead(**profile, id=user_uuid(row.user_id), clerk_user_id=row.user_id,
                        is_super_admin=who.is_owner or who.cross_tenant)  # fmt: skip

    async def update_me(self, who: Principal, body: UserUpdate) -> UserRead:
        """MC's profile fields of the caller (its member row in this tenant)."""
        patch = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not UNSET}
        if isinstance(patch.get("email"), str):
            patch["email"] = patch["email"].strip().lower() or None
        async with self._db.transaction() as conn:
            row = await self._me(conn, who)
            fields = msgspec.structs.asdict(_profile(row)) | patch
            await store.set_profile(conn, who.tenant_id, row.user_id, Profile(**fields))
            row = await self._me(conn, who)
        return self._user_out(who, row)

    # -- the organisation -------------------------------------------------------------------------

    async def organization(self, who: Principal) -> OrganizationRead:
        return await self._organization(who.tenant_id)

    async def _organization(self, tenant_id: UUID) -> OrganizationRead:
        async with self._db.connection() as conn:
            tenant = await tenants.get(conn, tenant_id)
        if tenant is None:
            raise NotFound(kind="organization", id=str(tenant_id))
        return OrganizationRead(id=tenant.id, name=tenant.name or tenant.slug, created_at=tenant.created_at,
                                updated_at=tenant.updated_at)  # fmt: skip

    async def create_organization(self, who: Principal, body: OrganizationCreate) -> OrganizationRead:
        """A new organisation is a new ClawGate tenant, so only a gateway-wide admin makes one (the
        rules of ``tenants.create``: the gateway token with an owner id, a system key, development
        mode); the caller is its owner with every board. Its slug is made from the name (a slug
        taken is a name taken). The caller acts in it with ``X-GoClaw-Tenant-Id`` (a Clerk user, who
        cannot make one, switches with ``set_active``).
        Raises: InvalidRequest (a blank name), AlreadyExists (a tenant of that name, any case),
        Forbidden."""
        self._tenants.check_create(who)  # before anything is read: another tenant's names never show
        name = body.name.strip()
        if not name:
            raise invalid_field("$.name", "name must not be blank")
        async with self._db.connection() as conn:
            taken = {t.name.strip().lower() for t in await tenants.list_all(conn)}
        if name.lower() in taken:
            raise AlreadyExists(kind="organization", id=name)
        # The slug is the name's, so two racing creates of one name meet at its unique index (409).
        try:
            tenant = await self._tenants.create(who, TenantCreate(name=name, slug=_tenant_slug(name)))
        except AlreadyExists:
            raise AlreadyExists(kind="organization", id=name) from None
        async with self._db.transaction() as conn:
            await store.merge_member(conn, tenant.id, who.coord_user, "owner", True, True)
        return OrganizationRead(id=tenant.id, name=tenant.name, created_at=tenant.created_at,
                                updated_at=tenant.updated_at)  # fmt: skip

    async def delete_organization(self, who: Principal) -> None:
        """Delete the organisation's Mission Control data (``store.mc_org.wipe``: MC's boards with
        all that hangs off them, groups, tags, custom fields, gateway records, invites, members) in
        the tenant the request acts in, never another's; the tenant itself, its ClawGate agents,
        GoClaw's teams and ClawTasker's projects stay. Owners only. Raises: Forbidden."""
        async with self._db.transaction() as conn:
            me = await self.admin(conn, who)
            if me.role != "owner":
                raise _forbidden("Only organization owners can delete organizations")
            await store.lock_members(conn, who.tenant_id)
            await _wipe(conn, who, me)

    async def delete_me(self, who: Principal) -> None:
        """MC's account deletion, in the tenant the request acts in: the caller's member row and its
        board access go; when it was the only member, the organisation's MC data goes with it (MC
        deletes an organisation left without members). The last owner of an organisation with other
        members stays (422). A ClawGate admin's credential makes its row again at its next request.
        Raises: InvalidRequest."""
        async with self._db.transaction() as conn:
            me = await self._me(conn, who)
            members = await store.lock_members(conn, who.tenant_id)
            if members == [me.id]:
                await _wipe(conn, who, me)
                return
            if me.role == "owner" and await store.lock_owners(conn, who.tenant_id) == [me.id]:
                raise InvalidRequest(
                    "failed_precondition", detail="Organization must have at least one owner"
                )
            await store.clear_access(conn, who.tenant_id, me.user_id)
            await store.delete_member(conn, who.tenant_id, me.id)

    async def organizations(self, who: Principal) -> list[OrganizationListItem]:
        """The caller's organisations, the one the request acts in marked active. A Clerk user lists
        every tenant it is a user of (of those not suspended: ``clerk.choose`` passes them over);
        any other credential acts in one tenant at a time (another is chosen per request with
        ``X-GoClaw-Tenant-Id`` where the credential allows it) and lists that one."""
        org = await self.organization(who)
        async with self._db.transaction() as conn:
            me = await self._me(conn, who)
            found = await clerk_store.memberships(conn, who.user_id) if who.via == "clerk" else []
        items = [OrganizationListItem(id=org.id, name=org.name, role=me.role, is_active=True)]
        for m in found:
            if m.tenant_id != who.tenant_id and m.status == "active":
                role = m.member_role or ("owner" if m.role in ("owner", "admin") else "member")
                items.append(
                    OrganizationListItem(id=m.tenant_id, name=m.name or m.slug, role=role, is_active=False)
                )
        return items

    async def set_active(self, who: Principal, organization_id: UUID) -> OrganizationRead:
        """The organisation the caller's requests act in from now on. A Clerk user may choose any
        tenant it is a user of (stored in PostgreSQL, so every gateway process agrees); another
        credential only the one the request acts in. Raises: NotFound (not a tenant of the
        caller's), Forbidden (a suspended one)."""
        if who.via == "clerk" and organization_id != who.tenant_id:
            async with self._db.transaction() as conn:
                found = {m.tenant_id: m for m in await clerk_store.memberships(conn, who.user_id)}
                if organization_id not in found:
                    raise NotFound(kind="organization", id=str(organization_id))
                if found[organization_id].status != "active":
                    raise _forbidden("This organization is suspended.")
                await clerk_store.set_active(conn, who.user_id, organization_id)
            return await self._organization(organization_id)
        if organization_id != who.tenant_id:
            raise NotFound(kind="organization", id=str(organization_id))
        if who.via == "clerk":  # the default made explicit: it stays while other memberships come
            async with self._db.transaction() as conn:
                await clerk_store.set_active(conn, who.user_id, organization_id)
        return await self.organization(who)

    # -- members ----------------------------------------------------------------------------------

    async def _member_out(self, conn: DbConnection, row: MemberRow) -> MemberRead:
        access = await store.access_of(conn, row.tenant_id, row.user_id)
        return MemberRead(
            id=row.id, organization_id=row.tenant_id, user_id=user_uuid(row.user_id), role=row.role,
            all_boards_read=row.all_teams_read, all_boards_write=row.all_teams_write, created_at=row.created_at,
            updated_at=row.updated_at,
            user=OrganizationUserRead(id=user_uuid(row.user_id), email=row.email, name=row.name,
                                      preferred_name=row.preferred_name),
            board_access=[
                BoardAccessRead(id=uuid.uuid5(row.id, str(a.board_id)), board_id=a.board_id, can_read=a.can_read,
                                can_write=a.can_write, created_at=a.created_at, updated_at=a.created_at)
                for a in access
            ],
        )  # fmt: skip

    @staticmethod
    async def _member(conn: DbConnection, who: Principal, member_id: UUID) -> MemberRow:
        row = await store.get_member(conn, who.tenant_id, member_id)
        if row is None:
            raise NotFound(kind="member", id=str(member_id))
        return row

    async def my_member(self, who: Principal) -> MemberRead:
        async with self._db.transaction() as conn:
            return await self._member_out(conn, await self._me(conn, who))

    async def members(self, who: Principal, limit: int, offset: int) -> tuple[list[MemberRead], int]:
        async with self._db.transaction() as conn:
            await self._me(conn, who)
            rows = await store.members_page(conn, who.tenant_id, limit, offset)
            return [await self._member_out(conn, r) for r in rows], rows[0].total if rows else 0

    async def member(self, who: Principal, member_id: UUID) -> MemberRead:
        """A member: an admin reads any, a member itself. Raises: NotFound, Forbidden."""
        async with self._db.transaction() as conn:
            me = await self._me(conn, who)
            row = await self._member(conn, who, member_id)
            if not _is_admin(me) and row.id != me.id:
                raise _forbidden("Organization admin access required.")
            return await self._member_out(conn, row)

    async def update_member(self, who: Principal, member_id: UUID, body: MemberUpdate) -> MemberRead:
        """Change a member's role (admins; owners only by an owner; the last owner stays)."""
        async with self._db.transaction() as conn:
            me = await self.admin(conn, who)
            row = await self._member(conn, who, member_id)
            if body.role is not None and body.role != row.role:
                if "owner" in (body.role, row.role):
                    if me.role != "owner":
                        raise _forbidden("Only organization owners can grant or change the owner role.")
                    owners = await store.lock_owners(conn, who.tenant_id)
                    if row.role == "owner" and owners == [row.id]:
                        raise InvalidRequest(
                            "failed_precondition", detail="Organization must have at least one owner"
                        )
                await store.set_role(conn, who.tenant_id, row.id, body.role)
            return await self._member_out(conn, await self._member(conn, who, member_id))

    async def set_access(self, who: Principal, member_id: UUID, body: AccessUpdate) -> MemberRead:
        """Replace a member's all-boards flags and per-board rows (admins). Raises: InvalidRequest
        (a board that is not the tenant's), NotFound, Forbidden."""
        async with self._db.transaction() as conn:
            await self.admin(conn, who)
            row = await self._member(conn, who, member_id)
            await self._check_boards(conn, who, body.board_access)
            await store.set_flags(conn, who.tenant_id, row.id, body.all_boards_read, body.all_boards_write)
            await store.clear_access(conn, who.tenant_id, row.user_id)
            await store.merge_access(conn, who.tenant_id, row.user_id, _entries(body.board_access))
            return await self._member_out(conn, await self._member(conn, who, member_id))

    @staticmethod
    async def _check_boards(conn: DbConnection, who: Principal, specs: list[BoardAccessSpec]) -> None:
        wanted = {s.board_id for s in specs}
        if missing := wanted - await store.boards_found(conn, who.tenant_id, list(wanted)):
            raise invalid_field("$.board_access", f"unknown board: {', '.join(sorted(map(str, missing)))}")

    async def remove_member(self, who: Principal, member_id: UUID) -> None:
        """Remove a member and its board access (admins; not oneself; an owner only by an owner;
        never the last owner)."""
        async with self._db.transaction() as conn:
            me = await self.admin(conn, who)
            row = await self._member(conn, who, member_id)
            if row.id == me.id:
                raise _forbidden("You cannot remove yourself from the organization")
            if row.role == "owner":
                if me.role != "owner":
                    raise _forbidden("Only owners can remove owners")
                if await store.lock_owners(conn, who.tenant_id) == [row.id]:
                    raise InvalidRequest(
                        "failed_precondition", detail="Organization must have at least one owner"
                    )
            await store.clear_access(conn, who.tenant_id, row.user_id)
            await store.delete_member(conn, who.tenant_id, row.id)

    # -- invites ----------------------------------------------------------------------------------

    async def invites(self, who: Principal, limit: int, offset: int) -> tuple[list[InviteRead], int]:
        async with self._db.transaction() as conn:
            await self.admin(conn, who)
            rows = await store.invites_page(conn, who.tenant_id, limit, offset)
        return [_invite_out(r) for r in rows], rows[0].total if rows else 0

    async def create_invite(self, who: Principal, body: InviteCreate) -> InviteRead:
        """An invite; its token is in this answer only. Raises: Forbidden (not an admin; an owner
        invite by an admin), AlreadyExists (the address is a member's), InvalidRequest."""
        email = _email(body.invited_email)
        raw, digest = new_invite_token()
        async with self._db.transaction() as conn:
            me = await self.admin(conn, who)
            if body.role == "owner" and me.role != "owner":
                raise _forbidden("Only organization owners can invite owners.")
            if await store.email_is_member(conn, who.tenant_id, email):
                raise AlreadyExists(kind="member", id=email)
            await self._check_boards(conn, who, body.board_access)
            row = await store.insert_invite(
                conn, who.tenant_id, email=email, token_hash=digest, role=body.role, all_read=body.all_boards_read,
                all_write=body.all_boards_write, access=_entries(body.board_access), created_by=me.user_id,
            )  # fmt: skip
        return _invite_out(row, raw)

    async def revoke_invite(self, who: Principal, invite_id: UUID) -> InviteRead:
        async with self._db.transaction() as conn:
            await self.admin(conn, who)
            row = await store.delete_invite(conn, who.tenant_id, invite_id)
        if row is None:
            raise NotFound(kind="invite", id=str(invite_id))
        return _invite_out(row)

    async def accept_invite(self, who: Principal, token: str) -> MemberRead:
        """Accept an invite, once: its role raises the caller's, its flags and board access are
        added. Any credential accepts its own tenant's invites; a Clerk user also another tenant's,
        which makes it a user of that tenant (``tenant_users``, at ``_TENANT_ROLE`` of the invite's role,
        raised only) with its profile carried over, and makes that tenant its active one
        (as MC). Raises: NotFound (unknown, used, revoked, another tenant's for other credentials)."""
        digest = hash_api_key(token.strip())
        async with self._db.transaction() as conn:
            me = await self._me(conn, who)
            tenant_id = who.tenant_id
            if who.via == "clerk":
                tenant_id = await clerk_store.invite_tenant(conn, digest) or who.tenant_id
            invite = await store.claim_invite(conn, tenant_id, digest, me.user_id)
            if invite is None:
                raise NotFound(kind="invite", id="token")
            if who.via == "clerk":
                await clerk_store.join(conn, me.user_id, tenant_id, _TENANT_ROLE[invite.role])
                if tenant_id != who.tenant_id:
                    await clerk_store.seed_profile(conn, me.user_id, tenant_id, _profile(me))
                    await clerk_store.set_active(conn, me.user_id, tenant_id)
            row = await _merge(conn, tenant_id, me.user_id, invite.role, invite.all_teams_read,
                               invite.all_teams_write)  # fmt: skip
            await store.merge_access(conn, tenant_id, me.user_id, invite.team_access)
            return await self._member_out(conn, row)


async def _merge(
    conn: DbConnection, tenant_id: UUID, user_id: str, role: str, all_read: bool, all_write: bool
) -> MemberRow:
    """The member row of ``user_id``, made or raised to ``role`` and the flags (``store.merge_member``)."""
    for _ in range(2):  # a concurrent first insert is visible to the second statement
        row = await store.merge_member(conn, tenant_id, user_id, role, all_read, all_write)
        if row is not None:
            return row
    raise RuntimeError("member row neither inserted nor visible")


def _profile(row: MemberRow) -> Profile:
    return Profile(**{f: getattr(row, f) for f in Profile.__struct_fields__})


async def _wipe(conn: DbConnection, who: Principal, me: MemberRow) -> None:
    """Mission Control's data of the tenant deleted, and an ``organization.deleted`` event (no task:
    ClawTasker's kept task board renders again, the boards' tasks being gone with no event each)."""
    await store.wipe(conn, who.tenant_id)
    await coord_events.append(conn, who.tenant_id, NewEvent(
        kind="organization.deleted", user_id=me.user_id, message="Mission Control's organization data deleted.",
    ))  # fmt: skip


def _entries(specs: list[BoardAccessSpec]) -> list[dict[str, object]]:
    return [{"board_id": str(s.board_id), "can_read": s.can_read or s.can_write, "can_write": s.can_write}
            for s in specs]  # fmt: skip
