"""DiGiT-TC synthesis (method.md steps 1-11): calls first, request second, executed without state."""
