"""`publisher` with a short send lease (QA_LEASE_TTL seconds, default 3) — to test a
takeover of a stopped sender within seconds instead of the 60 s of the real TTL.
Nothing else is changed."""
import functools
import os
import sys

from publisher.deliver import job, lease

job.Lease = functools.partial(lease.Lease, ttl=float(os.environ.get("QA_LEASE_TTL", "3")))
from publisher.cli.main import run  # noqa: E402

sys.argv[0] = "publisher"
run()
