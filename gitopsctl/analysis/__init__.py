"""Analysis: metrics measured on an interval, judged by conditions, and canary-vs-stable statistics."""
