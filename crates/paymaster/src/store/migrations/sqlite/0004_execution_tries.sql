-- How often the engine took an execution without sending or refusing it (a relayer nonce that
-- moved, the node's trouble, a relayer transaction the node refused). The engine refuses an
-- execution that reaches its bound, so that nothing is tried forever, across restarts too.
ALTER TABLE executions ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;
