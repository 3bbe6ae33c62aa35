// Command kubectl-elbfix is the kubectl plugin `kubectl elbfix`.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/cmd"
)

func main() {
	os.Exit(cmd.Execute(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.Args[1:]))
}
