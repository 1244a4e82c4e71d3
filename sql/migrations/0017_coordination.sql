-- Agent coordination (issue 14): one data model under three façades, GoClaw's agent teams (/v1 and
-- the WebSocket), Mission Control (/api/v1) and ClawTasker (/api). Reference:
-- reference/mission-control-and-clawtasker.md section 4.2. Every row carries tenant_id (an MC
-- organisation and CT's company are the tenant); children reference (tenant_id, parent id), so a
-- row can never point into another tenant.
--
-- Names: a team is a GoClaw team, an MC board and a CT project (kind says which surface made it);
-- an MC/CT agent is a ClawGate agent (agents), with its liveness in agent_presence. Tasks carry one
-- canonical status (backlog | ready | in_progress | review | done | cancelled); each surface maps
-- it (clawgate.services.tasks). "Blocked" is never a status: a manual flag or an unresolved
-- depends_on edge. Comments, status changes and everything else that happened is one append-only
-- log, coord_events, whose identity `seq` is the cursor of every stream (SSE id: lines, since=).

-- An agent may be referenced as (tenant_id, id).
-- agents_tenant_id_uidx (agents (tenant_id, id), for the composite foreign keys below) is made by 0015_skills.

-- -- organisation: members (MC users of the tenant), per-team access, invites -------------------------

CREATE TABLE org_members (
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id          text        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
    role             text        NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
    email            text,
    name             text,
    preferred_name   text,
    pronouns         text,
    timezone         text,
    notes            text,
    context          text,
    all_teams_read   boolean     NOT NULL DEFAULT false,
    all_teams_write  boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE org_invites (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    invited_email       text        NOT NULL,
    -- SHA-256 of the token (shown once); the lookup is by hash.
    token_hash          text        NOT NULL UNIQUE,
    role                text        NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
    all_teams_read      boolean     NOT NULL DEFAULT false,
    all_teams_write     boolean     NOT NULL DEFAULT false,
    team_access         jsonb       NOT NULL DEFAULT '[]',  -- [{team_id, can_read, can_write}], copied on accept
    created_by          text        NOT NULL DEFAULT '',
    accepted_by         text,
    accepted_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX org_invites_tenant_idx ON org_invites (tenant_id, created_at);

-- -- teams (GoClaw teams, MC boards, CT projects) and their groups ---------------------------------

CREATE TABLE team_groups (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    slug         text        NOT NULL,
    description  text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE INDEX team_groups_tenant_idx ON team_groups (tenant_id, name);

CREATE TABLE teams (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    group_id      uuid,
    -- Which surface made it: 'team' (GoClaw), 'board' (MC), 'project' (CT). Every surface sees all.
    kind          text        NOT NULL DEFAULT 'team' CHECK (kind IN ('team', 'board', 'project')),
    key           text,       -- CT's string project id; NULL elsewhere
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    slug          text        NOT NULL DEFAULT '',
    description   text        NOT NULL DEFAULT '',
    status        text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    settings      jsonb       NOT NULL DEFAULT '{}',  -- GoClaw's team settings, as sent
    gateway_id    uuid,                               -- MC's gateway (NULL: this ClawGate)
    -- MC's goal
    board_type    text        NOT NULL DEFAULT 'goal' CHECK (board_type IN ('goal', 'general')),
    objective     text,
    success_metrics jsonb,
    target_date   timestamptz,
    goal_confirmed boolean    NOT NULL DEFAULT false,
    goal_source   text,
    -- MC's board rules (reference 1.2 / 2.3)
    require_approval_for_done                  boolean NOT NULL DEFAULT true,
    require_review_before_done                 boolean NOT NULL DEFAULT false,
    comment_required_for_review                boolean NOT NULL DEFAULT false,
    block_status_changes_with_pending_approval boolean NOT NULL DEFAULT false,
    only_lead_can_change_status                boolean NOT NULL DEFAULT false,
    max_agents    integer     NOT NULL DEFAULT 1 CHECK (max_agents >= 0),
    project       jsonb       NOT NULL DEFAULT '{}',  -- CT project metadata (type, repo, workspace_root, ...)
    created_by    text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES team_groups (tenant_id, id) ON DELETE SET NULL (group_id)
);
CREATE INDEX teams_tenant_idx ON teams (tenant_id, created_at);
CREATE INDEX teams_group_idx ON teams (tenant_id, group_id) WHERE group_id IS NOT NULL;
CREATE UNIQUE INDEX teams_key_uidx ON teams (tenant_id, key) WHERE key IS NOT NULL;

-- Agent membership. One lead per team (the partial unique index); MC's is_board_lead is role = 'lead'.
CREATE TABLE team_members (
    tenant_id   uuid        NOT NULL,
    team_id     uuid        NOT NULL,
    agent_id    uuid        NOT NULL,
    role        text        NOT NULL DEFAULT 'member' CHECK (role IN ('lead', 'member', 'reviewer')),
    joined_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, agent_id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX team_members_one_lead_uidx ON team_members (team_id) WHERE role = 'lead';
CREATE INDEX team_members_agent_idx ON team_members (tenant_id, agent_id);

-- A user's access to one team (MC organization_board_access; GoClaw's team grants).
CREATE TABLE team_access (
    tenant_id   uuid        NOT NULL,
    team_id     uuid        NOT NULL,
    user_id     text        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
    can_read    boolean     NOT NULL DEFAULT true,
    can_write   boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX team_access_user_idx ON team_access (tenant_id, user_id);

-- -- agents: liveness beside ClawGate's agents row ---------------------------------------------------

-- The MC/CT side of an agent: declared status, last check-in, presence and the agent token
-- (SHA-256 with an indexed prefix: O(1) lookup, unlike MC's scan). Computed status is read-time
-- (MC: offline 10 min after last_seen_at; CT: 180 s).
CREATE TABLE agent_presence (
    tenant_id             uuid        NOT NULL,
    agent_id              uuid        NOT NULL PRIMARY KEY,
    status                text        NOT NULL DEFAULT 'provisioning' CHECK (length(status) BETWEEN 1 AND 64),
    last_seen_at          timestamptz,
    token_prefix          text,
    token_hash            text,
    current_task_id       uuid,
    doing_summary         text        NOT NULL DEFAULT '',
    done_summary          text        NOT NULL DEFAULT '',
    next_summary          text        NOT NULL DEFAULT '',
    blockers              text[]      NOT NULL DEFAULT '{}',
    speaking              boolean     NOT NULL DEFAULT false,
    heartbeat_config      jsonb       NOT NULL DEFAULT '{"every": "10m", "target": "last", "includeReasoning": false}',
    identity_profile      jsonb       NOT NULL DEFAULT '{}',
    profile               jsonb       NOT NULL DEFAULT '{}',  -- CT: role, skills, specialists, manager, department ...
    identity_template     text,
    soul_template         text,
    lifecycle_generation  integer     NOT NULL DEFAULT 0,
    wake_attempts         integer     NOT NULL DEFAULT 0,
    last_wake_sent_at     timestamptz,
    checkin_deadline_at   timestamptz,
    last_provision_error  text,
    retired_at            timestamptz,
    successor_agent_id    uuid,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX agent_presence_token_uidx ON agent_presence (token_prefix) WHERE token_prefix IS NOT NULL;

-- -- ClawTasker's planning: missions and sprints (room for the CT façade) ----------------------------

CREATE TABLE missions (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    team_id          uuid,
    key              text        NOT NULL,
    title            text        NOT NULL,
    objective        text        NOT NULL DEFAULT '',
    status           text        NOT NULL DEFAULT 'draft'
                                 CHECK (status IN ('draft', 'planned', 'active', 'blocked', 'review', 'done')),
    priority         smallint    NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 3),
    horizon          text,
    owner_agent_id   uuid,
    details          jsonb       NOT NULL DEFAULT '{}',  -- success_criteria, next_actions, risks, milestones ...
    source           text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, key),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE SET NULL (team_id)
);

CREATE TABLE sprints (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    team_id      uuid,
    key          text        NOT NULL,
    name         text        NOT NULL,
    goal         text        NOT NULL DEFAULT '',
    start_date   date,
    end_date     date,
    status       text        NOT NULL DEFAULT 'planning' CHECK (status IN ('planning', 'active', 'closed')),
    velocity     integer,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, key),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE SET NULL (team_id)
);

-- -- tasks ---------------------------------------------------------------------------------------------

-- The tenant's task counter (GoClaw task_number, CT "T-<n>"): one row per tenant, bumped in the
-- creating transaction.
CREATE TABLE task_numbers (
    tenant_id  uuid   PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    last       bigint NOT NULL DEFAULT 0
);

CREATE TABLE tasks (
    id                       uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id                uuid        NOT NULL,
    team_id                  uuid        NOT NULL,
    number                   bigint      NOT NULL,
    mission_id               uuid,
    sprint_id                uuid,
    parent_id                uuid,
    title                    text        NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    description              text        NOT NULL DEFAULT '',
    task_type                text        NOT NULL DEFAULT 'general',
    status                   text        NOT NULL DEFAULT 'backlog'
                                         CHECK (status IN ('backlog', 'ready', 'in_progress', 'review', 'done', 'cancelled')),
    -- canonical P0..P3 (MC high=1, medium=2, low=3; GoClaw's integer priority is kept in metadata)
    priority                 smallint    NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 3),
    blocked                  boolean     NOT NULL DEFAULT false,
    blocked_reason           text        NOT NULL DEFAULT '',
    assignee_agent_id        uuid,
    assignee_user_id         text,
    validator_agent_id       uuid,
    created_by_user          text        NOT NULL DEFAULT '',
    created_by_agent_id      uuid,
    auto_created             boolean     NOT NULL DEFAULT false,
    auto_reason              text,
    in_progress_at           timestamptz,
    previous_in_progress_at  timestamptz,
    due_at                   timestamptz,
    progress                 smallint    NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    progress_step            text        NOT NULL DEFAULT '',
    result                   text,
    -- GoClaw's scope: where the task came from (channel, chat id = the session key for WS chats)
    channel                  text        NOT NULL DEFAULT '',
    chat_id                  text        NOT NULL DEFAULT '',
    user_id                  text        NOT NULL DEFAULT '',
    custom_fields            jsonb       NOT NULL DEFAULT '{}',
    metadata                 jsonb       NOT NULL DEFAULT '{}',
    comment_count            integer     NOT NULL DEFAULT 0,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, number),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, mission_id) REFERENCES missions (tenant_id, id) ON DELETE SET NULL (mission_id),
    FOREIGN KEY (tenant_id, sprint_id) REFERENCES sprints (tenant_id, id) ON DELETE SET NULL (sprint_id),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES tasks (tenant_id, id) ON DELETE SET NULL (parent_id),
    FOREIGN KEY (tenant_id, assignee_agent_id) REFERENCES agents (tenant_id, id) ON DELETE SET NULL (assignee_agent_id),
    FOREIGN KEY (tenant_id, validator_agent_id) REFERENCES agents (tenant_id, id) ON DELETE SET NULL (validator_agent_id),
    FOREIGN KEY (tenant_id, created_by_agent_id) REFERENCES agents (tenant_id, id) ON DELETE SET NULL (created_by_agent_id)
);
-- The board list (filters by status / assignee, newest first) and GoClaw's chat sidebar
-- (teams.tasks.active-by-session, on every chat: a partial index over the open tasks only).
CREATE INDEX tasks_team_idx ON tasks (tenant_id, team_id, status, created_at DESC);
CREATE INDEX tasks_team_recent_idx ON tasks (tenant_id, team_id, created_at DESC, id DESC);
CREATE INDEX tasks_assignee_idx ON tasks (tenant_id, assignee_agent_id) WHERE assignee_agent_id IS NOT NULL;
CREATE INDEX tasks_active_chat_idx ON tasks (tenant_id, chat_id)
    WHERE status IN ('backlog', 'ready', 'in_progress', 'review');

-- Edges between tasks of one team. One direction is stored; inverses (blocks, is-blocked-by,
-- child-of) are derived at read. depends_on edges form a DAG (the service checks cycles under a
-- per-team lock before inserting).
CREATE TABLE task_links (
    tenant_id    uuid        NOT NULL,
    team_id      uuid        NOT NULL,
    src_task_id  uuid        NOT NULL,
    dst_task_id  uuid        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('depends_on', 'relates_to', 'duplicates', 'parent_of')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (src_task_id, dst_task_id, kind),
    CHECK (src_task_id <> dst_task_id),
    FOREIGN KEY (tenant_id, src_task_id) REFERENCES tasks (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, dst_task_id) REFERENCES tasks (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX task_links_dst_idx ON task_links (dst_task_id, kind);
CREATE INDEX task_links_team_idx ON task_links (tenant_id, team_id, kind);

-- -- tags and custom fields ------------------------------------------------------------------------------

CREATE TABLE tags (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    slug         text        NOT NULL,
    color        text        NOT NULL DEFAULT '9e9e9e',
    description  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, slug)
);

CREATE TABLE task_tags (
    tenant_id  uuid NOT NULL,
    task_id    uuid NOT NULL,
    tag_id     uuid NOT NULL,
    PRIMARY KEY (task_id, tag_id),
    FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, tag_id) REFERENCES tags (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE custom_field_defs (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    field_key         text        NOT NULL CHECK (field_key ~ '^[A-Za-z][A-Za-z0-9_]{0,63}$'),
    label             text        NOT NULL,
    field_type        text        NOT NULL DEFAULT 'text' CHECK (field_type IN
                          ('text', 'text_long', 'integer', 'decimal', 'boolean', 'date', 'date_time', 'url', 'json')),
    ui_visibility     text        NOT NULL DEFAULT 'always' CHECK (ui_visibility IN ('always', 'if_set', 'hidden')),
    validation_regex  text,
    description       text,
    required          boolean     NOT NULL DEFAULT false,
    default_value     jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, field_key)
);

-- Which fields a team's tasks carry (values live in tasks.custom_fields, by field_key).
CREATE TABLE team_custom_fields (
    tenant_id      uuid NOT NULL,
    team_id        uuid NOT NULL,
    definition_id  uuid NOT NULL,
    PRIMARY KEY (team_id, definition_id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, definition_id) REFERENCES custom_field_defs (tenant_id, id) ON DELETE CASCADE
);

-- -- approvals -------------------------------------------------------------------------------------------

CREATE TABLE approvals (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid        NOT NULL,
    team_id         uuid        NOT NULL,
    task_id         uuid,       -- the first linked task (MC's primary link)
    agent_id        uuid,       -- requester
    action_type     text        NOT NULL CHECK (length(action_type) BETWEEN 1 AND 200),
    payload         jsonb,
    confidence      real        NOT NULL CHECK (confidence BETWEEN 0 AND 100),
    rubric_scores   jsonb,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    resolved_by     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id) ON DELETE SET NULL (task_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE SET NULL (agent_id)
);
CREATE INDEX approvals_team_idx ON approvals (tenant_id, team_id, status, created_at DESC);

-- The tasks an approval covers. `pending` mirrors the approval's status (written in the same
-- transaction), so that "one pending approval per task" is a partial unique index: two requests
-- racing for the same task cannot both win, whatever process they run in.
CREATE TABLE approval_tasks (
    tenant_id    uuid    NOT NULL,
    approval_id  uuid    NOT NULL,
    task_id      uuid    NOT NULL,
    pending      boolean NOT NULL DEFAULT true,
    PRIMARY KEY (approval_id, task_id),
    FOREIGN KEY (tenant_id, approval_id) REFERENCES approvals (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX approval_tasks_one_pending_uidx ON approval_tasks (task_id) WHERE pending;
CREATE INDEX approval_tasks_task_idx ON approval_tasks (task_id);

-- -- threads and messages (board memory, group memory, CT conversations and directives) -------------

CREATE TABLE threads (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    scope         text        NOT NULL CHECK (scope IN ('team', 'team_group', 'direct')),
    team_id       uuid,
    group_id      uuid,
    key           text,       -- CT thread id ("TH-...")
    title         text        NOT NULL DEFAULT '',
    mode          text        NOT NULL DEFAULT '',
    participants  text[]      NOT NULL DEFAULT '{}',
    session_key   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CHECK ((scope = 'team') = (team_id IS NOT NULL)),
    CHECK ((scope = 'team_group') = (group_id IS NOT NULL)),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, group_id) REFERENCES team_groups (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX threads_team_uidx ON threads (team_id) WHERE scope = 'team';
CREATE UNIQUE INDEX threads_group_uidx ON threads (group_id) WHERE scope = 'team_group';
CREATE UNIQUE INDEX threads_key_uidx ON threads (tenant_id, key) WHERE key IS NOT NULL;

CREATE TABLE messages (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid        NOT NULL,
    thread_id     uuid        NOT NULL,
    author_kind   text        NOT NULL CHECK (author_kind IN ('agent', 'user', 'system', 'webhook')),
    author_id     text        NOT NULL DEFAULT '',
    source        text,
    content       text        NOT NULL CHECK (length(content) >= 1),
    tags          text[]      NOT NULL DEFAULT '{}',
    is_chat       boolean     NOT NULL DEFAULT false,
    category      text        NOT NULL DEFAULT 'discussion'
                              CHECK (category IN ('directive', 'discussion', 'summary', 'status', 'ack', 'system')),
    task_id       uuid,
    directive     jsonb,      -- CT directives: {target, project_id, specialist, create_task, status}
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, thread_id) REFERENCES threads (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id) ON DELETE SET NULL (task_id)
);
CREATE INDEX messages_thread_idx ON messages (thread_id, created_at);

-- -- the event log ------------------------------------------------------------------------------------

-- Append-only. `seq` is the cursor of every stream. A sequence number is taken at INSERT, not at
-- COMMIT: a reader resuming after seq n reads only below the oldest transaction still open
-- (pg_snapshot_xmin), so a late commit with a smaller seq is never skipped (clawgate.store.events).
CREATE TABLE coord_events (
    seq          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           uuid        NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    team_id      uuid,
    group_id     uuid,
    task_id      uuid,
    agent_id     uuid,
    user_id      text,
    kind         text        NOT NULL CHECK (kind ~ '^[a-z_]+(\.[a-z_]+)*$'),
    message      text,
    data         jsonb       NOT NULL DEFAULT '{}',
    xid          xid8        NOT NULL DEFAULT pg_current_xact_id(),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coord_events_team_idx ON coord_events (tenant_id, team_id, seq) WHERE team_id IS NOT NULL;
CREATE INDEX coord_events_task_idx ON coord_events (tenant_id, task_id, seq) WHERE task_id IS NOT NULL;
CREATE INDEX coord_events_tenant_idx ON coord_events (tenant_id, seq);

-- -- notifications ----------------------------------------------------------------------------------------

-- Per-recipient deliveries derived from events: an agent's (into its ClawGate session) or a user's
-- (the UI). Delivery is recorded here, replacing MC's *_notified / *_notify_failed events.
CREATE TABLE notifications (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_seq       bigint      REFERENCES coord_events (seq) ON DELETE SET NULL,
    recipient_kind  text        NOT NULL CHECK (recipient_kind IN ('agent', 'user')),
    recipient_id    text        NOT NULL,
    kind            text        NOT NULL,
    title           text        NOT NULL DEFAULT '',
    body            text        NOT NULL DEFAULT '',
    channel         text        NOT NULL DEFAULT 'ui' CHECK (channel IN ('gateway_session', 'ui')),
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    read            boolean     NOT NULL DEFAULT false,
    dismissed       boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX notifications_pending_idx ON notifications (created_at) WHERE status = 'pending';
CREATE INDEX notifications_recipient_idx ON notifications (tenant_id, recipient_kind, recipient_id, created_at DESC);
