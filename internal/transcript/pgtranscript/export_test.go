package pgtranscript

// ListenerPID returns the backend process id of s's listener connection, 0 while it has none,
// so that a test can break the connection from the server's side.
func ListenerPID(s *Store) uint32 { return s.hub.listenerPID() }
