-- The person an API key belongs to: approvals are made in their name, and a requester may never
-- approve their own requisition. NULL for keys of systems and of people who never approve.
ALTER TABLE api_keys ADD COLUMN user_id TEXT;
