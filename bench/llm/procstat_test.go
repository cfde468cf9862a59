package main

import (
	"strings"
	"testing"
)

func TestVmRSS_ReadsKilobytesAsBytes(t *testing.T) {
	status := "Name:\tfrontdoor\nVmPeak:\t 2000000 kB\nVmRSS:\t   17816 kB\nThreads:\t8\n"
	got, err := vmRSS(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	if got != 17816*1024 {
		t.Errorf("vmRSS = %d, want %d", got, 17816*1024)
	}
}

func TestVmRSS_FailsWithoutTheLine(t *testing.T) {
	if _, err := vmRSS(strings.NewReader("Name:\tkthreadd\n")); err == nil {
		t.Fatal("no error for a status without VmRSS (a kernel thread's)")
	}
}
