package rounds

// Idle reports whether g's goroutine is waiting for items, for tests that add one then.
func Idle[T, R any](g *Group[T, R]) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.idle
}
