mod faults_tools;
