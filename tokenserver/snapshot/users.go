package snapshot

import (
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// MaxUsers bounds the users of one database connection.
const MaxUsers = 100_000

// ParseUsers reads the users of a database connection from the YAML or JSON list that a
// users Secret holds:
//
//   - username: alice
//     email: alice@example.com
//     id: 7b0d2a52
//     name: Alice Example
//     passwordHash: $2a$10$...
//     blocked: false
//     claims: {department: sales}
//
// Every user needs a passwordHash and a username or email; id defaults to the username
// (or email) and must stay stable, since it is the user's `sub`. Usernames and emails are
// matched case-insensitively and must be unique. Unknown fields are errors, so that a
// misspelt field is not silently ignored. The password hashes' format is checked by the
// password package, not here.
func ParseUsers(data []byte) ([]User, error) {
	var users []User
	if err := yaml.UnmarshalStrict(data, &users); err != nil {
		return nil, fmt.Errorf("users must be a YAML or JSON list of {username, email, id, name, passwordHash, blocked, claims}: %w", err)
	}
	if len(users) > MaxUsers {
		return nil, fmt.Errorf("%d users, more than the %d a connection may have", len(users), MaxUsers)
	}
	ids := make(map[string]int, len(users))
	logins := make(map[string]int, 2*len(users))
	var errs []error
	for i := range users {
		u := &users[i]
		if u.Username == "" && u.Email == "" {
			errs = append(errs, fmt.Errorf("user %d: needs a username or an email", i+1))
			continue
		}
		if u.PasswordHash == "" {
			errs = append(errs, fmt.Errorf("user %q: passwordHash is missing", u.Login()))
		}
		if u.ID == "" {
			u.ID = u.Login()
		}
		if j, dup := ids[u.ID]; dup {
			errs = append(errs, fmt.Errorf("user %q: id %q is also the id of user %q", u.Login(), u.ID, users[j].Login()))
		}
		ids[u.ID] = i
		for _, login := range []string{u.Username, u.Email} {
			key := NormalizeLogin(login)
			if key == "" {
				continue
			}
			if j, dup := logins[key]; dup && j != i {
				errs = append(errs, fmt.Errorf("user %q: %q is also the username or email of user %q", u.Login(), login, users[j].Login()))
			}
			logins[key] = i
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return users, nil
}

// Login is the name a user is known by in messages: the username, else the email.
func (u *User) Login() string {
	if u.Username != "" {
		return u.Username
	}
	return u.Email
}

// NormalizeLogin is the form in which usernames and emails are compared.
func NormalizeLogin(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}
