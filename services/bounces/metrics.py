"""The intake's one metric: messages taken, by what became of them (a closed set of outcomes, so
it neither leaks an address nor grows). Lives with the intake because only the intake moves it;
it shares prometheus-client's default registry with services/runtime/metrics.py, so the process's
/metrics shows it, and it stays still when ENS_METRICS=false like the others."""

from __future__ import annotations

from prometheus_client import Counter

from services.runtime import metrics

MESSAGES = Counter(
    "ens_bounces_messages",
    "Messages the bounce intake took, by outcome: recorded_hard, recorded_soft, not_ours (no mail of ours matched), "
    "dropped_auto_reply, dropped_not_a_bounce, dropped_unknown_mail, dropped_malformed, refused (the notifier "
    "refused the report), deferred (451: the notifier did not answer), rcpt_refused (550: not the bounce domain).",
    ["outcome"],
)


def counted(outcome: str) -> None:
    if metrics.enabled():
        MESSAGES.labels(outcome).inc()
