//go:build linux

package elizacli

import (
	"runtime"
	"syscall"
)

// suspend stops chat as Ctrl-Z at a terminal stops a job: its whole process group, so that a
// wrapper it runs under (sh -c, make, go run) stops with it and the shell takes the terminal
// back, until the shell continues them (fg). The signal sent to this thread as well is taken
// as the call returns, so chat has stopped and been continued before it draws its line again
// (SIGCONT discards the other, still pending). Where nothing could continue the group (an
// orphaned one: its parent is no job-control shell, as under `script -c`), Linux discards both
// and chat goes on at once.
func suspend() {
	_ = syscall.Kill(0, syscall.SIGTSTP)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = syscall.Tgkill(syscall.Getpid(), syscall.Gettid(), syscall.SIGTSTP)
}
