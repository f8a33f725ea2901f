package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func runHashPassword(args []string) int {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	cost := fs.Int("cost", 10, "bcrypt cost (each step doubles the work of every login)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	// A missing final newline is not an error: the password is what was read.
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		fmt.Fprintln(os.Stderr, `hash-password: no password on standard input (try: read -rs PW; echo "$PW" | gatehouse hash-password)`)
		return 1
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), *cost)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hash-password:", err)
		return 1
	}
	fmt.Println(string(hash))
	return 0
}
