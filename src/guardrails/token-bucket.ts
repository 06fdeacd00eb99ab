import type { TokenBucket } from './facts.ts';

/**
 * Token buckets for per-provider rate limits, as pure functions over a bucket's state: the
 * dispatcher keeps the state, the guardrails read it (defer until a token is there), and the
 * dispatcher takes a token for each message it sends.
 */
export interface BucketLimit {
  /** Tokens added per `perMs`. */
  readonly rate: number;
  readonly perMs: number;
  /** Most tokens the bucket holds (how large a burst may be). */
  readonly burst: number;
}

/** Tokens in the bucket at `now` (a missing bucket is full). */
export function tokensAt(bucket: TokenBucket | undefined, limit: BucketLimit, now: number): number {
  if (bucket === undefined) return limit.burst;
  const elapsed = Math.max(0, now - bucket.updatedAt);
  return Math.min(limit.burst, bucket.tokens + (elapsed * limit.rate) / limit.perMs);
}

/** The first instant not before `now` at which the bucket holds a whole token. */
export function nextTokenAt(bucket: TokenBucket | undefined, limit: BucketLimit, now: number): number {
  const tokens = tokensAt(bucket, limit, now);
  if (tokens >= 1) return now;
  let at = now + Math.ceil(((1 - tokens) * limit.perMs) / limit.rate);
  // Floating-point rounding must never answer an instant at which the token is not there yet.
  while (tokensAt(bucket, limit, at) < 1) at++;
  return at;
}

/** The bucket after one message was sent at `now` (it may go below zero if sent without a token). */
export function takeToken(bucket: TokenBucket | undefined, limit: BucketLimit, now: number): TokenBucket {
  return { tokens: tokensAt(bucket, limit, now) - 1, updatedAt: Math.max(now, bucket?.updatedAt ?? now) };
}
