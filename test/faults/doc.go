// Package faults holds the fault tests of the whole system: the gatehouse binary's
// controller and token server run as processes against a real API server (see
// test/systemtest) while the tests take away what they depend on: the API server,
// the directory, an intact snapshot Secret, a stable signing key, a single controller.
// It has its own API server, because one test stops it.
package faults
