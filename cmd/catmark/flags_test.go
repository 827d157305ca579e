package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	for _, c := range []struct {
		args     []string
		required []string
		want     string // substring of the error; empty: no error
		usage    bool   // the usage is printed
	}{
		{[]string{"--data", "d", "--out", "o"}, []string{"data", "out"}, "", false},
		{[]string{"--data", "d"}, nil, "", false},
		{[]string{"--data", "d"}, []string{"data", "out"}, "--data and --out are required", true},
		{[]string{"--out", "o"}, []string{"data", "out"}, "--data and --out are required", true},
		{[]string{"--data", ""}, []string{"data"}, "--data is required", true},
		{nil, []string{"data"}, "--data is required", true},
		{[]string{"--data", "d", "extra"}, []string{"data"}, `unexpected arguments ["extra"]`, false},
		{[]string{"--nope"}, nil, "flag provided but not defined: -nope", true},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		var output bytes.Buffer
		fs.SetOutput(&output)
		usage := false
		fs.Usage = func() { usage = true }
		fs.String("data", "", "")
		fs.String("out", "", "")
		err := parseFlags(fs, c.args, c.required...)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("parseFlags(%q, %q) = %v, want no error", c.args, c.required, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("parseFlags(%q, %q) = %v, want an error containing %q", c.args, c.required, err, c.want)
		}
		if usage != c.usage {
			t.Errorf("parseFlags(%q, %q) printed the usage: %v, want %v", c.args, c.required, usage, c.usage)
		}
	}
}
