"""Getting messages out: the transport port, the outbox, the paced sender, rendering and the job scheduler."""
