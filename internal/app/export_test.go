package app

// Watched is the heartbeat topic a dispatcher watches with c, empty for none.
func (c Capture) Watched() string { return c.topic() }
