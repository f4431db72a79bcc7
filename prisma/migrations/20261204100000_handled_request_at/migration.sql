-- Handled Slack and PagerDuty request keys are forgotten after a retention period, oldest first.
CREATE INDEX "HandledRequest_at_idx" ON "HandledRequest"("at");
