//go:build linux

package elizacli

import (
	"runtime"
	"syscall"
)

// suspend stops chat as Ctrl-Z stops a program run from a shell with job control, until the
// shell continues it (fg). Sent to this thread, the signal is taken as the call returns, so
// chat has stopped and been continued before it draws its line again. Where nothing could
// continue it (its process group orphaned: chat's parent is no such shell, as under `script`),
// Linux discards the signal and chat goes on at once.
func suspend() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = syscall.Tgkill(syscall.Getpid(), syscall.Gettid(), syscall.SIGTSTP)
}
