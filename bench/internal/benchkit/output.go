package benchkit

import (
	"io"
	"os"
)

// ReportWriter returns the writer a harness prints its report to: standard output and, when
// path is not empty, also the file at path, created or truncated. The returned close closes
// that file; call it once the report is written.
func ReportWriter(path string) (w io.Writer, closeFile func(), err error) {
	if path == "" {
		return os.Stdout, func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	return io.MultiWriter(os.Stdout, f), func() { _ = f.Close() }, nil
}
