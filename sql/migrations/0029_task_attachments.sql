-- GoClaw's task attachments (issue 14: GET /v1/teams/{teamId}/attachments/{attachmentId}/download).
-- An attachment links a task to a file of its team's workspace (clawgate.services.team_workspace):
-- the bytes stay on disk in the workspace, the row says which file (path relative to the team's
-- workspace) belongs to which task, with the name and type it is downloaded as. Uploading the same
-- path to the same task again refreshes the row (one row per task and path).
CREATE TABLE task_attachments (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid        NOT NULL,
    team_id     uuid        NOT NULL,
    task_id     uuid        NOT NULL,
    chat_id     text        NOT NULL DEFAULT '',
    path        text        NOT NULL CHECK (length(path) BETWEEN 1 AND 1024),
    file_name   text        NOT NULL CHECK (length(file_name) BETWEEN 1 AND 255),
    mime_type   text        NOT NULL,
    size        bigint      NOT NULL CHECK (size >= 0),
    created_by  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, task_id, path),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX task_attachments_team_idx ON task_attachments (tenant_id, team_id);
