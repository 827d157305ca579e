// Command catmark finds nine landmarks on cats' faces, and trains, evaluates and serves the
// models that do it. Run "catmark help" for the subcommands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
)

// command is one subcommand. run gets the arguments after the subcommand's name and returns an
// error to report; errSilent means the command already said what went wrong.
type command struct {
	summary string
	run     func(args []string) error
}

var commands = map[string]command{}

// register adds a subcommand; each subcommand's file calls it from init.
func register(name, summary string, run func(args []string) error) {
	if _, dup := commands[name]; dup {
		panic("catmark: subcommand registered twice: " + name)
	}
	commands[name] = command{summary, run}
}

// errSilent signals failure without a further message (the command printed its own).
var errSilent = errors.New("failed")

func usage() {
	fmt.Fprintln(os.Stderr, "usage: catmark <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun \"catmark <command> -h\" for a command's flags.")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "help" || os.Args[1] == "-h" || os.Args[1] == "--help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "catmark: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err := cmd.run(os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		if !errors.Is(err, errSilent) {
			fmt.Fprintf(os.Stderr, "catmark %s: %v\n", os.Args[1], err)
		}
		os.Exit(1)
	}
}
