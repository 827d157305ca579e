package main

import (
	"flag"
	"fmt"
	"strings"
)

// parseFlags parses args with fs and rejects any arguments left after the flags. Each flag named
// in required must then have a non-empty value; when one has not, parseFlags prints fs's usage
// and returns an error naming them all ("--data and --out are required").
func parseFlags(fs *flag.FlagSet, args []string, required ...string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, name := range required {
		if fs.Lookup(name).Value.String() == "" {
			fs.Usage()
			verb := "are"
			if len(required) == 1 {
				verb = "is"
			}
			return fmt.Errorf("--%s %s required", strings.Join(required, " and --"), verb)
		}
	}
	return nil
}
