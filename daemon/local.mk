## daemon/
