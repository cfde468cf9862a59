//go:build linux

package elizacli

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// suspend stops chat as Ctrl-Z at a terminal stops a job: its whole process group, so that a
// wrapper it runs under (sh -c, make, go run) stops with it and the shell takes the terminal
// back, until the shell continues them (fg). Where nothing could continue the group (an
// orphaned one: its parent is no job-control shell, as under `script -c`), Linux discards the
// signals and chat goes on at once.
//
// One stop, taken before chat draws its line again: the signal is sent to this thread too,
// with the thread blocking it, and then to the group. Either the group stops first (another
// thread takes the group's signal, this one stops as its call returns), and the SIGCONT that
// continues it discards the signal still pending here; or nothing has stopped yet, and the
// signal pending here stops the group as the thread unblocks it. (Sent to the group first, its
// signal could stop this thread before the second was sent, which then stopped chat again,
// alone, after fg.)
func suspend() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var tstp, was unix.Sigset_t
	tstp.Val[(unix.SIGTSTP-1)/64] |= 1 << ((unix.SIGTSTP - 1) % 64)
	if unix.PthreadSigmask(unix.SIG_BLOCK, &tstp, &was) != nil {
		return
	}
	_ = unix.Tgkill(unix.Getpid(), unix.Gettid(), unix.SIGTSTP)
	_ = unix.Kill(0, unix.SIGTSTP)
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &was, nil)
}
