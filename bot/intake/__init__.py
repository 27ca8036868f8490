"""The durable intake: every update stored before it is answered (the inbox), handed to one
process at a time, its conversation memory kept in the database, and the fleet's heartbeats."""
