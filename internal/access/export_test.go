package access

// Live reports whether the cache is in use: the listener is connected and LISTENing.
func (a *Authenticator) Live() bool {
	a.cache.mu.Lock()
	defer a.cache.mu.Unlock()
	return a.cache.live
}

// CallRounds returns how many rounds of model calls s has taken to record.
func CallRounds(s *Store) int {
	rounds, _ := s.calls.Stats()
	return rounds
}
