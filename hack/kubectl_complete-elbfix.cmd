@kubectl elbfix __complete %*
