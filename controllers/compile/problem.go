/*
Copyright 2026 The Gatehouse Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package compile

import (
	"errors"
	"fmt"
)

// ReasonSecretConflict says that a Secret the controller would write, or reads as its
// own, exists and is not the controller's, so it is left alone.
const ReasonSecretConflict = "SecretConflict"

// Problem is a mistake in what a user declared or referenced. It becomes Ready=False
// with its reason and message, and an Event, and is not retried with backoff: the
// watches bring the object back when the user fixes it.
type Problem struct {
	Reason  string
	Message string
}

func (p *Problem) Error() string { return p.Message }

// Problemf is a Problem with reason and a message formatted as fmt.Sprintf does.
func Problemf(reason, format string, args ...any) *Problem {
	return &Problem{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// AsProblem returns the Problem in err, if err is one.
func AsProblem(err error) (*Problem, bool) {
	var p *Problem
	ok := errors.As(err, &p)
	return p, ok
}
