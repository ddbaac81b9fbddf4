#!/usr/bin/env zx
// status: what exists now for the instance (containers, addresses, leases, port mappings), read from the host.
// A table for people; --json prints one JSON document for machines.
import { statusMain } from '../src/status.js';

await statusMain();
