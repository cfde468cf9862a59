package benchkit

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes the machine a run happened on, for the report's header.
type Machine struct {
	// Date is when the run started, in UTC.
	Date time.Time
	CPUs int
	// CPUModel and Memory come from /proc; "unknown" where it does not tell.
	CPUModel, Memory string
	// Go is the harness's Go version, which built the binaries too.
	Go string
}

// ThisMachine describes the machine the harness runs on, now.
func ThisMachine() Machine {
	return Machine{
		Date: time.Now().UTC(), CPUs: runtime.NumCPU(), Go: runtime.Version(),
		CPUModel: procField("/proc/cpuinfo", "model name"),
		Memory:   memory(procField("/proc/meminfo", "MemTotal")),
	}
}

// WriteHeader writes the report's title, "## harness: run runID", and its date and machine
// lines; the harness goes on with its own list items (versions).
func (m Machine) WriteHeader(w io.Writer, harness, runID string) {
	fmt.Fprintf(w, "## %s: run %s\n\n", harness, runID)
	fmt.Fprintf(w, "- date: %s\n", m.Date.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "- machine: %d CPUs (%s), %s memory\n", m.CPUs, m.CPUModel, m.Memory)
}

// procField returns the value of the first "key: value" line of a /proc file, or "unknown".
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// memory turns /proc/meminfo's "24684084 kB" into "23.5 GiB".
func memory(kb string) string {
	n, err := strconv.ParseFloat(strings.TrimSuffix(kb, " kB"), 64)
	if err != nil {
		return kb
	}
	return strconv.FormatFloat(n/(1<<20), 'f', 1, 64) + " GiB"
}
