"""The simplified dormancy workload (issue 15): a policy and two hand-written references."""
