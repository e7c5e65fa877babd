"""insiderwatch batch jobs and the command line: these load and save; detector/ computes."""
