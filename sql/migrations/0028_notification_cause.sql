-- The agent whose own message (a comment, board or group chat) made a notification for another
-- agent: such wakes are limited per recipient (clawgate.services.board_loop), so that agents
-- @mentioning each other cannot wake each other without end.
ALTER TABLE notifications ADD COLUMN by_agent_id uuid;
