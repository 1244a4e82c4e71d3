-- Mission Control's dashboard metrics and activity feeds (store/mc_dashboard.py), computed from the
-- shared tasks, approvals and the coord_events log. Every query takes the tenant id first and the
-- boards the caller reads as $2 (NULL: every board of the tenant). MC's statuses: inbox = backlog
-- or ready, done = done or cancelled.

-- name: series
-- Per bucket of size $5 ('hour' | 'day' | 'week' | 'month') over [$3, $4): tasks done and their
-- mean cycle time (hours from in progress to done), events and failed events (kinds ending in
-- "failed"), and the tasks last changed in the bucket by MC status.
WITH buckets AS (
    SELECT generate_series(date_trunc($5, $3::timestamptz), $4::timestamptz - interval '1 microsecond',
                           ('1 ' || $5)::interval) AS period
), done AS (
    SELECT date_trunc($5, t.updated_at)                                          AS period,
           count(*)                                                              AS throughput,
           avg(extract(epoch FROM t.updated_at - t.in_progress_at) / 3600)
               FILTER (WHERE t.in_progress_at IS NOT NULL)                       AS cycle_hours
      FROM tasks AS t
     WHERE t.tenant_id = $1
       AND ($2::uuid[] IS NULL OR t.team_id = ANY($2::uuid[]))
       AND t.status = 'done'
       AND t.updated_at >= $3 AND t.updated_at < $4
     GROUP BY 1
), ev AS (
    SELECT date_trunc($5, e.created_at)                          AS period,
           count(*)                                              AS events,
           count(*) FILTER (WHERE e.kind LIKE '%failed')         AS failed
      FROM coord_events AS e
     WHERE e.tenant_id = $1
       AND ($2::uuid[] IS NULL OR e.team_id = ANY($2::uuid[]))
       AND e.created_at >= $3 AND e.created_at < $4
     GROUP BY 1
), wip AS (
    SELECT date_trunc($5, t.updated_at)                                         AS period,
           count(*) FILTER (WHERE t.status IN ('backlog', 'ready'))             AS inbox,
           count(*) FILTER (WHERE t.status = 'in_progress')                     AS in_progress,
           count(*) FILTER (WHERE t.status = 'review')                          AS in_review,
           count(*) FILTER (WHERE t.status IN ('done', 'cancelled'))            AS done
      FROM tasks AS t
     WHERE t.tenant_id = $1
       AND ($2::uuid[] IS NULL OR t.team_id = ANY($2::uuid[]))
       AND t.updated_at >= $3 AND t.updated_at < $4
     GROUP BY 1
)
SELECT b.period,
       coalesce(done.throughput, 0)  AS throughput,
       done.cycle_hours,
       coalesce(ev.events, 0)        AS events,
       coalesce(ev.failed, 0)        AS failed,
       coalesce(wip.inbox, 0)        AS inbox,
       coalesce(wip.in_progress, 0)  AS in_progress,
       coalesce(wip.in_review, 0)    AS in_review,
       coalesce(wip.done, 0)         AS done
  FROM buckets   AS b
  LEFT JOIN done ON done.period = b.period
  LEFT JOIN ev   ON ev.period = b.period
  LEFT JOIN wip  ON wip.period = b.period
 ORDER BY b.period;

-- name: kpis
-- Tasks now by MC status, agents online (seen in the last 10 minutes, on one of the boards when
-- $2 is given), and the median cycle time (hours) of the tasks done in the last 7 days.
SELECT count(*) FILTER (WHERE t.status IN ('backlog', 'ready'))  AS inbox_tasks,
       count(*) FILTER (WHERE t.status = 'in_progress')          AS in_progress_tasks,
       count(*) FILTER (WHERE t.status = 'review')               AS in_review_tasks,
       count(*) FILTER (WHERE t.status IN ('done', 'cancelled')) AS done_tasks,
       (SELECT count(*)
          FROM agent_presence AS p
         WHERE p.tenant_id = $1
           AND p.last_seen_at > now() - interval '10 minutes'
           AND ($2::uuid[] IS NULL
                OR EXISTS (SELECT 1 FROM team_members AS m
                            WHERE m.tenant_id = $1 AND m.agent_id = p.agent_id
                              AND m.team_id = ANY($2::uuid[]))))  AS active_agents,
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.updated_at - d.in_progress_at) / 3600)
          FROM tasks AS d
         WHERE d.tenant_id = $1
           AND ($2::uuid[] IS NULL OR d.team_id = ANY($2::uuid[]))
           AND d.status = 'done'
           AND d.in_progress_at IS NOT NULL
           AND d.updated_at >= now() - interval '7 days')         AS median_cycle_hours_7d
  FROM tasks AS t
 WHERE t.tenant_id = $1
   AND ($2::uuid[] IS NULL OR t.team_id = ANY($2::uuid[]));

-- name: pending_approvals
-- The pending approvals, newest first ($3 at most), with their board's name, the first task's
-- title and the total.
SELECT a.id AS approval_id, a.team_id AS board_id, b.name AS board_name, a.action_type, a.confidence,
       a.created_at, t.title AS task_title, count(*) OVER () AS total
  FROM approvals  AS a
  JOIN teams      AS b ON b.tenant_id = a.tenant_id AND b.id = a.team_id
  LEFT JOIN tasks AS t ON t.tenant_id = a.tenant_id AND t.id = a.task_id
 WHERE a.tenant_id = $1
   AND ($2::uuid[] IS NULL OR a.team_id = ANY($2::uuid[]))
   AND a.status = 'pending'
 ORDER BY a.created_at DESC, a.id
 LIMIT $3;

-- name: activity
-- The log newest first: the events of the boards ($2; NULL: every event of the tenant), with the
-- total. Events of no board are an admin's only.
SELECT e.id, e.kind AS event_type, e.message, e.agent_id, e.task_id, e.team_id AS board_id, e.created_at,
       count(*) OVER () AS total
  FROM coord_events AS e
 WHERE e.tenant_id = $1
   AND ($2::uuid[] IS NULL OR e.team_id = ANY($2::uuid[]))
 ORDER BY e.seq DESC
 LIMIT $3 OFFSET $4;

-- name: task_comments
-- The task comments of the boards, newest first, with their agent, task and board, and the total;
-- only the one of event $5 when given (the feed's stream).
SELECT e.id, e.created_at, e.message, e.agent_id, a.display_name AS agent_name, a.agent_key,
       m.role AS agent_role, e.task_id, t.title AS task_title, e.team_id AS board_id, b.name AS board_name,
       count(*) OVER () AS total
  FROM coord_events      AS e
  JOIN tasks             AS t ON t.tenant_id = e.tenant_id AND t.id = e.task_id
  JOIN teams             AS b ON b.tenant_id = e.tenant_id AND b.id = t.team_id
  LEFT JOIN agents       AS a ON a.tenant_id = e.tenant_id AND a.id = e.agent_id
  LEFT JOIN team_members AS m ON m.team_id = t.team_id AND m.agent_id = e.agent_id
 WHERE e.tenant_id = $1
   AND ($2::uuid[] IS NULL OR e.team_id = ANY($2::uuid[]))
   AND e.kind = 'task.comment'
   AND ($5::uuid IS NULL OR e.id = $5)
 ORDER BY e.seq DESC
 LIMIT $3 OFFSET $4;
