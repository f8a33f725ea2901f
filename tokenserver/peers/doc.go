// Package peers makes the token server's replicas agree on login-attempt counts, so that
// an attacker who spreads guesses over N replicas does not get N times the threshold.
//
// Counters implements attack.Counters by replicated broadcast: every Add and Reset is
// applied to this replica's attack.Memory at once and then sent, asynchronously and in
// small batches, to every other replica, which applies it without sending it on. Get is
// local, so a login never waits for the network. A replica that starts asks a live peer
// for its counts (Join), so a restart does not reset protection.
//
// Membership is a Kubernetes Lease per replica (Membership): each replica renews its own
// and watches the others'. Messages carry an HMAC-SHA256 under a key the controller keeps
// in the Secret snapshot.PeerKeySecretName, and a timestamp and a nonce, so they can be
// neither forged nor replayed; until the key is known a replica neither sends nor accepts
// messages and counts alone. The signature covers a digest of the body and is checked from the
// headers before the body is read, so that whoever lacks the key cannot make a replica
// read a body; bodies are bounded (a batch of MaxBatchSize ops, a page of counts), and so
// are the peer requests served at once (Options.MaxRequests).
//
// Limits: counts converge within the broadcast latency (milliseconds), and each replica
// decides on its own count, so guesses sent to several replicas within that window pass
// on counts that have not seen each other; the policy (attack.Attempt.Overrun) reads the
// count again after the password check and refuses an attempt over the limit whatever
// its password. An attempt within its replica's share of the limit (the threshold ÷
// Counters.Replicas) is answered at once; one past it first waits twice
// Counters.Propagation for the peers' reservations. During a network partition each
// side counts alone; when every replica is down the counts are lost; each replica holds
// the keys its attack.Memory bounds (a budget per tenant, a limit in all), and an op that
// finds no room on a receiver is not counted there.
package peers
