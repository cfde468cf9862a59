//go:build !linux

package elizacli

// suspend does nothing where chat does not know how to stop itself safely: Ctrl-Z is ignored.
func suspend() {}
