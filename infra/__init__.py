"""CDK infrastructure for PracticePay. `definitions` is CDK-free and shared with the local stack."""
