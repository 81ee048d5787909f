a source file of the user's: push.sh
